"""DNSMOS (Reddy et al. 2021/2022): P.835 SIG, BAK, OVRL and P.808 MOS, with no clean reference.

The models are Microsoft's DNS-Challenge ONNX files as the `speechmos` wheel ships them
(`dnsmos_models/sig_bak_ovr.onnx`, the non-personalised P.835 model, and `model_v8.onnx`,
P.808), run by `speechmos.dnsmos` with onnxruntime on the CPU: 9.01 s windows hopped by
1 s, a clip shorter than a window repeated to fill it, the P.835 outputs polynomial-mapped,
the window scores averaged. Nothing of it is reimplemented here. They come with the `mos`
extra (`pip install -e ".[mos]"`).

speechmos refuses a waveform with a sample outside [-1, 1]. Such a file (a float WAV that
clips) is a failure of kind `dnsmos-out-of-range` with the count and the peak; it is not
clipped or rescaled here, as either would score another signal than the one on disk.
`bench.evaluate` leaves the DNSMOS cells of such a row NaN (counted) and fails the row only
when DNSMOS is all it scores.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from bench.errors import BenchError
from bench.metrics.pesq_stoi import MetricFailure
from imse.frontend import SAMPLE_RATE

MEASURES = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
"""The table columns, in order."""
PACKAGES = ("speechmos", "onnxruntime", "librosa")
"""The packages behind a DNSMOS score (the `mos` extra): a resume requires the same versions."""
INSTALL = 'pip install -e ".[mos]"'
_SPEECHMOS_KEYS = {"dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos",
                   "dnsmos_p808": "p808_mos"}


class DnsmosUnavailable(BenchError, ImportError):
    """The `mos` extra is not installed; the message says what to install."""


def speechmos_dnsmos() -> ModuleType:
    """`speechmos.dnsmos`, or DnsmosUnavailable naming the missing package and the install command."""
    try:
        from speechmos import dnsmos
    except ImportError as error:
        raise DnsmosUnavailable(f"DNSMOS needs the mos extra ({error.name or error} is not installed): "
                                f"{INSTALL}") from error
    return dnsmos


def dnsmos(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """DNSMOS of one 16 kHz waveform: {dnsmos_sig, dnsmos_bak, dnsmos_ovrl, dnsmos_p808}.

    Raises MetricFailure for a waveform it cannot score (non-finite, silent, or outside
    [-1, 1]) and DnsmosUnavailable without the `mos` extra.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"DNSMOS needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"DNSMOS scores a 1-D waveform, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise MetricFailure("dnsmos-nan", "the signal contains NaN or infinite samples")
    if not np.any(samples):
        raise MetricFailure("dnsmos-silent", "the signal is all zeros (silent)")
    outside = int(np.count_nonzero(np.abs(samples) > 1.0))
    if outside:
        raise MetricFailure("dnsmos-out-of-range", f"{outside} samples outside [-1, 1] (peak "
                            f"{float(np.max(np.abs(samples))):.4g}); DNSMOS takes [-1, 1] audio: write the file "
                            "as PCM or scale it")
    scores = speechmos_dnsmos().run(samples, sample_rate)
    result = {name: float(scores[key]) for name, key in _SPEECHMOS_KEYS.items()}
    if not all(math.isfinite(value) for value in result.values()):
        raise MetricFailure("dnsmos-nan", f"DNSMOS gave a non-finite score {result}")
    return result
