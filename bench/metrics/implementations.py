"""Which code computes each measure, and at which version: one entry per table column.

Every summary carries `implementations(columns)`, so that numbers from two machines (or two
package versions) can be compared or told apart; tables may quote the same strings.
"""

from __future__ import annotations

from bench.provenance import package_versions

_COMPOSITE = "numpy, Hu & Loizou 2008 composite (LLR, WSS and PESQ regression; variant in the summary)"
IMPLEMENTATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pesq": (("pesq",), "ITU-T P.862.2 wideband"),
    "csig": (("imse-bench",), _COMPOSITE),
    "cbak": (("imse-bench",), _COMPOSITE),
    "covl": (("imse-bench",), _COMPOSITE),
    "ssnr": (("imse-bench",), "numpy, segmental SNR as Loizou's composite.m (frames clamped to [-10, 35] dB)"),
    "stoi": (("pystoi",), "STOI (Taal 2011)"),
    "estoi": (("pystoi",), "extended STOI (Jensen & Taal 2016)"),
    "si_sdr": (("imse-bench",), "numpy, SI-SDR (Le Roux 2019), mean removed"),
    "pesq_nb": (("pesq",), "ITU-T P.862 narrowband with the P.862.1 mapping, at 8 kHz"),
    "dnsmos_sig": (("speechmos", "onnxruntime"), "DNS-Challenge DNSMOS P.835 sig_bak_ovr.onnx, SIG"),
    "dnsmos_bak": (("speechmos", "onnxruntime"), "DNS-Challenge DNSMOS P.835 sig_bak_ovr.onnx, BAK"),
    "dnsmos_ovrl": (("speechmos", "onnxruntime"), "DNS-Challenge DNSMOS P.835 sig_bak_ovr.onnx, OVRL"),
    "dnsmos_p808": (("speechmos", "onnxruntime"), "DNS-Challenge DNSMOS P.808 model_v8.onnx"),
}
"""Measure -> (the packages that compute it, what it is). The one home of these descriptions."""


def implementations(measures: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Measure -> "package version, ..., description" for each of `measures`, with the installed versions."""
    unknown = [name for name in measures if name not in IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"no implementation recorded for {unknown}")
    packages = tuple(sorted({package for name in measures for package in IMPLEMENTATIONS[name][0]}))
    versions = package_versions(packages)
    return {name: ", ".join([*(f"{package} {versions[package]}" for package in IMPLEMENTATIONS[name][0]),
                             IMPLEMENTATIONS[name][1]]) for name in measures}
