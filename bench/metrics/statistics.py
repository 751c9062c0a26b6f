"""Summary statistics of per-utterance scores: mean, std, percentile bootstrap CIs, paired tests.

The bootstrap is seeded and its settings are fixed here, so a summary is reproducible to the
last digit and says how it was made (`BOOTSTRAP`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import wilcoxon

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
#: How the intervals are made; written into every summary.
BOOTSTRAP = {
    "method": "percentile bootstrap of the mean over utterances",
    "resamples": BOOTSTRAP_RESAMPLES,
    "seed": BOOTSTRAP_SEED,
    "generator": "numpy.random.default_rng",
    "confidence": CONFIDENCE,
}
_CHUNK = 1_000


def bootstrap_mean_interval(
    values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap CI (95 %) of the mean of `values`; (nan, nan) for no values.

    For paired data, pass the per-utterance differences: resampling utterances keeps pairs.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    generator = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        picks = generator.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[picks].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def describe(values: np.ndarray) -> dict:
    """n, mean, sample std (ddof 1) and 95 % bootstrap CI of the finite entries of `values`."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    count = int(values.size)
    low, high = bootstrap_mean_interval(values)
    return {
        "n": count,
        "mean": float(values.mean()) if count else math.nan,
        "std": float(values.std(ddof=1)) if count > 1 else math.nan,
        "ci95": [low, high],
    }


def paired_difference(first: np.ndarray, second: np.ndarray) -> dict:
    """Mean of first - second over pairs, its bootstrap 95 % CI and the Wilcoxon signed-rank p-value.

    The p-value is NaN (with a note) when every difference is zero or there are no pairs,
    where the test is undefined.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired samples differ in size: {first.shape} and {second.shape}")
    difference = first - second
    low, high = bootstrap_mean_interval(difference)
    result = {
        "n": int(difference.size),
        "mean_a": float(first.mean()) if difference.size else math.nan,
        "mean_b": float(second.mean()) if difference.size else math.nan,
        "mean_difference": float(difference.mean()) if difference.size else math.nan,
        "ci95": [low, high],
        "wilcoxon_p": math.nan,
    }
    if difference.size == 0 or not np.any(difference):
        result["note"] = "Wilcoxon test undefined: no pairs or all differences are zero"
        return result
    result["wilcoxon_p"] = float(wilcoxon(first, second).pvalue)
    return result
