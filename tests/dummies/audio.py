"""Synthetic audio for the metric tests: speech-like signals, and files that are wrong on purpose.

Nothing here is real speech; the signals only need a voiced, time-varying spectrum so that
LPC, the critical-band slopes and PESQ's voice-activity detection have something to work on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 16_000


def speech_like(seconds: float = 2.0, *, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A syllabic, voiced signal: gliding harmonics under a 4 Hz envelope, with pauses, peak 0.5, float64.

    The tests' one speech-like signal. `seed` and `sample_rate` are keyword-only: a second
    definition with them the other way round once let a positional rate pass as a seed.
    """
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120.0 + 30.0 * np.sin(2 * np.pi * 0.7 * time + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    harmonics = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 25))
    formant = 1.0 + 0.5 * np.sin(2 * np.pi * (900 + 300 * np.sin(2 * np.pi * 1.3 * time)) * time)
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * time + rng.uniform(0, np.pi)), 0, None) ** 1.5
    signal = harmonics * formant * envelope + 0.003 * rng.standard_normal(time.size)
    return (0.5 * signal / np.max(np.abs(signal))).astype(np.float64)


def noisy_version(clean: np.ndarray, snr_db: float = 5.0, seed: int = 1) -> np.ndarray:
    """Clean plus white noise at `snr_db`, rescaled if needed to stay within [-1, 1]."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(clean.size)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    noisy = clean + noise
    return noisy / max(1.0, float(np.max(np.abs(noisy))) / 0.99)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> Path:
    """Write `samples` (mono, or [samples, channels]) as a WAV file, making its directory; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, sample_rate, subtype=subtype)
    return path


def write_corrupt_wav(path: Path) -> Path:
    """A file named .wav whose header is garbage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(64)))
    return path


def write_stereo_wav(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    return write_wav(path, np.stack([samples, samples], axis=1), sample_rate)


def quantised(samples: np.ndarray) -> np.ndarray:
    """What a PCM_16 round trip makes of `samples` (as float, as read_audio returns it)."""
    return np.round(np.clip(samples, -1, 32767 / 32768) * 32768) / 32768
