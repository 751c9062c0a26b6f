"""PESQ (through the `pesq` package) and STOI/ESTOI (through `pystoi`), with their failures named.

Neither measure is reimplemented here. What this module adds is the mapping of each way the
packages fail onto a `MetricFailure` with a short kind and a readable reason, so that a
failed utterance becomes NaN with its reason, never the -1 that upstream code averages in.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pesq as pesq_package
from pystoi import stoi as pystoi_stoi
from scipy.signal import resample_poly

from bench.errors import BenchError
from imse.frontend import SAMPLE_RATE

WIDEBAND_RATE = SAMPLE_RATE
"""Wideband PESQ (P.862.2) is defined at 16 kHz, the project's one sample rate."""
NARROWBAND_RATE = 8_000


class MetricFailure(BenchError):
    """A measure that cannot be computed for this pair. `kind` is a short stable tag for counting."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _pesq(reference: np.ndarray, degraded: np.ndarray, sample_rate: int, mode: str) -> float:
    """Call pesq.pesq and turn its exceptions into MetricFailure."""
    try:
        return float(pesq_package.pesq(sample_rate, reference, degraded, mode))
    except pesq_package.NoUtterancesError as error:
        raise MetricFailure(
            "pesq-no-utterances", f"PESQ found no utterances in the reference (silent or too quiet?): {error}"
        ) from error
    except pesq_package.BufferTooShortError as error:
        raise MetricFailure(
            "pesq-too-short", f"PESQ needs at least 0.25 s of audio, got {reference.size / sample_rate:.3f} s"
        ) from error
    except pesq_package.PesqError as error:
        raise MetricFailure("pesq-error", f"PESQ failed: {error!r}") from error
    except ValueError as error:
        # pesq 0.0.4 raises a plain ValueError ("cannot convert float NaN to integer") for a
        # silent or non-finite signal; say which.
        if not np.all(np.isfinite(degraded)):
            raise MetricFailure("pesq-nan-estimate", "the enhanced signal contains NaN or infinite samples") from error
        if not np.any(degraded):
            raise MetricFailure("pesq-silent-estimate", "the enhanced signal is all zeros (silent)") from error
        raise MetricFailure("pesq-error", f"PESQ failed: {error}") from error


def wideband_pesq(clean: np.ndarray, enhanced: np.ndarray, sample_rate: int = WIDEBAND_RATE) -> float:
    """Wideband PESQ (ITU-T P.862.2 MOS-LQO) of 16 kHz signals."""
    if sample_rate != WIDEBAND_RATE:
        raise ValueError(f"wideband PESQ needs 16 kHz audio, got {sample_rate} Hz")
    return _pesq(clean, enhanced, sample_rate, "wb")


def narrowband_pesq(clean: np.ndarray, enhanced: np.ndarray, sample_rate: int = WIDEBAND_RATE) -> float:
    """Narrowband PESQ (P.862 MOS-LQO via P.862.1) at 8 kHz; 16 kHz input is resampled first."""
    if sample_rate == WIDEBAND_RATE:
        clean = resample_poly(clean, 1, 2)
        enhanced = resample_poly(enhanced, 1, 2)
    elif sample_rate != NARROWBAND_RATE:
        raise ValueError(f"narrowband PESQ needs 8 or 16 kHz audio, got {sample_rate} Hz")
    return _pesq(clean, enhanced, NARROWBAND_RATE, "nb")


def stoi(clean: np.ndarray, enhanced: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI (Taal et al. 2011) or, with `extended`, ESTOI (Jensen & Taal 2016), through pystoi.

    pystoi returns 1e-5 with a warning when too few frames are left after removing silence;
    that, and a NaN, are failures here. So is ESTOI of an all-zero signal: pystoi's ESTOI
    normalisation adds tiny random noise, which then decides the score (it differs from call
    to call).
    """
    name = "estoi" if extended else "stoi"
    for signal, which in ((clean, "clean"), (enhanced, "enhanced")):
        if extended and not np.any(signal):
            raise MetricFailure(f"estoi-silent-{which}", f"the {which} signal is all zeros: ESTOI is undefined")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(clean, enhanced, sample_rate, extended=extended))
    for warning in caught:
        if "Not enough STFT frames" in str(warning.message):
            raise MetricFailure(f"{name}-too-short", "too few non-silent frames to form a 384 ms segment")
    if not math.isfinite(value):
        raise MetricFailure(f"{name}-nan", f"{name.upper()} is NaN (non-finite or silent input)")
    return value
