"""Noise at a chosen SNR, and the two noises VoiceBank+DEMAND synthesised from its speech.

The SNR is the VoiceBank+DEMAND one: the clean speech's P.56 active level minus the
noise's long-term RMS level. The speech-shaped noise is Gaussian noise coloured by the
long-term average spectrum of the training speech; the babble is several training talkers
summed. Every random choice comes from a `numpy.random.Generator` the caller seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench.data.p56 import active_speech_level, rms_level
from imse.frontend import SAMPLE_RATE

SPECTRUM_SEGMENT = 512
BABBLE_TALKERS = 6
PEAK_LIMIT = 0.99


def noise_segment(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random `length`-sample stretch of `noise`, looped end to start where it is too short."""
    repeats = -(-(length + noise.size) // noise.size)
    looped = np.tile(noise, repeats)
    start = int(rng.integers(0, noise.size))
    return looped[start : start + length]


def scale_noise_to_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, sample_rate: int) -> np.ndarray:
    """`noise` scaled so that P.56 level(clean) - RMS level(noise) = `snr_db`."""
    speech_db = active_speech_level(clean, sample_rate).level_db
    gain_db = speech_db - snr_db - rms_level(noise)
    return noise.astype(np.float64) * 10.0 ** (gain_db / 20.0)


def mix_at_snr(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Return (clean, noisy) float32 with the noise at `snr_db` below the speech's active level.

    When the mixture would exceed the peak limit both signals are scaled down together,
    which keeps the pair and the SNR intact (VoiceBank+DEMAND's files never clip).
    """
    if noise.size != clean.size:
        raise ValueError(f"noise has {noise.size} samples, speech has {clean.size}; cut the noise first")
    clean = clean.astype(np.float64)
    noisy = clean + scale_noise_to_snr(clean, noise, snr_db, sample_rate)
    peak = float(np.max(np.abs(noisy)))
    if peak > PEAK_LIMIT:
        clean = clean * (PEAK_LIMIT / peak)
        noisy = noisy * (PEAK_LIMIT / peak)
    return clean.astype(np.float32), noisy.astype(np.float32)


def long_term_spectrum(speech: Sequence[np.ndarray]) -> np.ndarray:
    """Average power spectrum of all the speech: Hann-windowed 512-sample frames, half overlapping."""
    window = np.hanning(SPECTRUM_SEGMENT)
    total = np.zeros(SPECTRUM_SEGMENT // 2 + 1)
    frames = 0
    for waveform in speech:
        if waveform.size < SPECTRUM_SEGMENT:
            continue
        framed = sliding_window_view(np.asarray(waveform, np.float64), SPECTRUM_SEGMENT)[:: SPECTRUM_SEGMENT // 2]
        total += np.sum(np.abs(np.fft.rfft(framed * window, axis=-1)) ** 2, axis=0)
        frames += framed.shape[0]
    if frames == 0:
        raise ValueError(f"no speech of {SPECTRUM_SEGMENT} samples or more to measure a spectrum on")
    return total / frames


def speech_shaped_noise(
    speech: Sequence[np.ndarray], length: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Gaussian noise whose spectrum follows the long-term average spectrum of `speech`."""
    spectrum = long_term_spectrum(speech)
    white = rng.standard_normal(length)
    bins = np.fft.rfftfreq(length, 1.0 / sample_rate)
    measured_bins = np.fft.rfftfreq(SPECTRUM_SEGMENT, 1.0 / sample_rate)
    amplitude = np.sqrt(np.interp(bins, measured_bins, spectrum))
    shaped = np.fft.irfft(np.fft.rfft(white) * amplitude, n=length)
    return (shaped / np.sqrt(np.mean(shaped**2))).astype(np.float32)


def babble(
    speech: Sequence[np.ndarray],
    length: int,
    rng: np.random.Generator,
    talkers: int = BABBLE_TALKERS,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """`talkers` streams of randomly chosen utterances, each at the same active level, summed.

    Each stream is utterances laid end to end in a random order and starts at a random
    point, so the talkers overlap as they do in a crowd.
    """
    levels = [active_speech_level(waveform, sample_rate).level_db for waveform in speech]
    equalised = [waveform * 10.0 ** (-level / 20.0) for waveform, level in zip(speech, levels, strict=True)]
    total = np.zeros(length)
    for _ in range(talkers):
        stream: list[np.ndarray] = []
        filled = 0
        while filled < 2 * length:
            waveform = equalised[int(rng.integers(0, len(equalised)))]
            stream.append(waveform)
            filled += waveform.size
        joined = np.concatenate(stream)
        start = int(rng.integers(0, joined.size - length))
        total += joined[start : start + length]
    return (total / np.sqrt(np.mean(total**2))).astype(np.float32)
