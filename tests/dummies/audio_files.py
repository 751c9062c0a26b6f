"""Bad and good audio files for the enhancement command's input handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from tests.dummies.audio import speech_like


def write_bad_inputs(directory: Path) -> dict[str, Path]:
    """One file of each kind the enhancement command must handle, by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "good": directory / "good.wav",
        "rate_8k": directory / "rate_8k.wav",
        "stereo": directory / "stereo.wav",
        "silent": directory / "silent.wav",
        "empty": directory / "empty.wav",
        "short": directory / "short.wav",
        "corrupt": directory / "corrupt.wav",
    }
    soundfile.write(files["good"], speech_like(1.0), 16_000)
    soundfile.write(files["rate_8k"], speech_like(1.0, sample_rate=8_000), 8_000)
    soundfile.write(files["stereo"], np.stack([speech_like(1.0), speech_like(1.0, seed=1)], axis=1), 16_000)
    soundfile.write(files["silent"], np.zeros(16_000, dtype=np.float32), 16_000)
    soundfile.write(files["empty"], np.zeros(0, dtype=np.float32), 16_000)
    soundfile.write(files["short"], speech_like(seconds=0.01), 16_000)
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not a header")
    return files
