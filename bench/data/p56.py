"""Active speech level by ITU-T P.56 (method B), the level VoiceBank+DEMAND was mixed by.

Written from the Recommendation's definition, vectorised over samples:

- the envelope is |x| smoothed twice by a first-order filter with a 30 ms time constant;
- for each threshold c_j (2^-15 ... 2^0 of full scale, a factor of 2 apart) the activity
  a_j counts the samples whose envelope reaches c_j, plus a 200 ms hangover after each;
- A_j = 10 log10(energy / a_j) and C_j = 20 log10(c_j); the active speech level is the
  A_j at the threshold where A_j - C_j falls to the 15.9 dB margin, interpolated in dB
  between the two thresholds that bracket it.

Levels are in dB relative to a full-scale amplitude of 1.0 (dBov for float audio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from imse.frontend import SAMPLE_RATE

TIME_CONSTANT = 0.03
HANGOVER = 0.2
MARGIN_DB = 15.9
THRESHOLDS = 2.0 ** np.arange(-15, 1)


@dataclass(frozen=True)
class ActiveLevel:
    """The active speech level in dB and the fraction of samples judged active."""

    level_db: float
    activity: float


def envelope(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """|x| smoothed twice by a one-pole filter of time constant 30 ms (P.56's q(n))."""
    decay = np.exp(-1.0 / (sample_rate * TIME_CONSTANT))
    magnitude = np.abs(samples.astype(np.float64))
    once = lfilter([1.0 - decay], [1.0, -decay], magnitude)
    return lfilter([1.0 - decay], [1.0, -decay], once)


def activity_counts(smoothed: np.ndarray, sample_rate: int) -> np.ndarray:
    """For each threshold, the samples at or above it plus those within the hangover after one."""
    hangover = int(np.ceil(HANGOVER * sample_rate))
    positions = np.arange(smoothed.size)
    counts = np.empty(THRESHOLDS.size, dtype=np.int64)
    for index, threshold in enumerate(THRESHOLDS):
        last_above = np.maximum.accumulate(np.where(smoothed >= threshold, positions, -hangover - 1))
        counts[index] = np.count_nonzero(positions - last_above <= hangover)
    return counts


def active_speech_level(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> ActiveLevel:
    """P.56 method B active speech level of a mono waveform (float, full scale 1.0)."""
    samples = np.asarray(samples, dtype=np.float64)
    energy = float(np.sum(samples**2))
    if energy == 0.0:
        raise ValueError("P.56 level of an all-zero signal is undefined")
    counts = activity_counts(envelope(samples, sample_rate), sample_rate)
    threshold_db = 20.0 * np.log10(THRESHOLDS)
    with np.errstate(divide="ignore"):
        level_db = 10.0 * np.log10(energy / counts)  # inf where nothing is active
    excess = level_db - threshold_db - MARGIN_DB
    crossing = np.flatnonzero(excess <= 0.0)
    if crossing.size == 0 or crossing[0] == 0:
        # Below the lowest threshold or active even at full scale: the long-term level is all there is.
        level = 10.0 * np.log10(energy / samples.size)
        return ActiveLevel(level, 1.0)
    upper = crossing[0]
    lower = upper - 1
    fraction = excess[lower] / (excess[lower] - excess[upper])
    level = level_db[lower] + fraction * (level_db[upper] - level_db[lower])
    active = 10.0 ** ((10.0 * np.log10(energy) - level) / 10.0)
    return ActiveLevel(float(level), float(min(active / samples.size, 1.0)))


def rms_level(samples: np.ndarray) -> float:
    """Long-term level 10 log10(mean x^2) in dB re full scale 1.0 (how noise is measured)."""
    power = float(np.mean(np.asarray(samples, dtype=np.float64) ** 2))
    if power == 0.0:
        raise ValueError("the level of an all-zero signal is undefined")
    return 10.0 * np.log10(power)


def measured_snr(clean: np.ndarray, noisy: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """SNR of a pair as VoiceBank+DEMAND defines it: P.56 speech level minus noise RMS level."""
    return active_speech_level(clean, sample_rate).level_db - rms_level(
        np.asarray(noisy, np.float64) - np.asarray(clean, np.float64)
    )
