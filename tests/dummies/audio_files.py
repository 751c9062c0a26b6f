"""Bad and good audio files for the enhancement command's input handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def speech_like(seconds: float = 1.0, sample_rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope plus a little noise: non-silent, finite."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * time))
    voiced = sum(np.sin(2 * np.pi * 150 * k * time) / k for k in range(1, 6))
    return (0.1 * envelope * voiced + 0.005 * rng.standard_normal(time.size)).astype(np.float32)


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
    soundfile.write(files["good"], speech_like(), 16_000)
    soundfile.write(files["rate_8k"], speech_like(sample_rate=8_000), 8_000)
    soundfile.write(files["stereo"], np.stack([speech_like(), speech_like(seed=1)], axis=1), 16_000)
    soundfile.write(files["silent"], np.zeros(16_000, dtype=np.float32), 16_000)
    soundfile.write(files["empty"], np.zeros(0, dtype=np.float32), 16_000)
    soundfile.write(files["short"], speech_like(seconds=0.01), 16_000)
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not a header")
    return files
