"""Is onnxruntime's dynamic int8 quantisation of an exported model worth keeping? Its PESQ cost on
the VoiceBank+DEMAND sample and its time per segment against the float export, in one run.

    python -m pytest benchmarks/test_onnx_quantisation.py -s

Issue 19 asked for it as an option to keep only if the figures say so; results/benchmarks/
onnx_quantisation.md records what they said.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import soundfile

from bench.metrics.pesq_stoi import wideband_pesq
from imse.enhance import _segments, enhance
from imse.loading import load_model

BUNDLES = {"imse": "imse-vb-3.399", "muse": "muse-vb"}
"""Systems whose export is quantised (GTCRN's export is refused: see imse.export)."""


@pytest.mark.parametrize("system", sorted(BUNDLES))
def test_dynamic_int8_quantisation_cost(checkpoint_dir, sample_dir, system, tmp_path, monkeypatch, record_property):
    """PESQ of each sample file through the float and the int8 export (one thread), and seconds per
    segment of each, alternating file by file."""
    pytest.importorskip("onnxruntime", reason='the onnxruntime backend needs pip install -e ".[onnx]"')
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from imse.export import cached_export
    from imse.export.runtime import OnnxRuntimeNetwork

    monkeypatch.setenv("IMSE_EXPORT_DIR", str(tmp_path))
    loaded = load_model(BUNDLES[system], cache_dir=checkpoint_dir)
    exported = cached_export(loaded)
    quantised = tmp_path / f"{system}.int8.onnx"
    quantize_dynamic(exported, quantised, weight_type=QuantType.QInt8)
    networks = {"float": OnnxRuntimeNetwork(exported, loaded.model.config, threads=1),
                "int8": OnnxRuntimeNetwork(quantised, loaded.model.config, threads=1)}
    seconds = dict.fromkeys(networks, 0.0)
    pesq: dict[str, list[float]] = {name: [] for name in networks}
    segments = 0
    for path in sorted((sample_dir / "noisy").glob("*.wav")):
        noisy = soundfile.read(path, dtype="float32")[0]
        clean = soundfile.read(sample_dir / "clean" / path.name, dtype="float32")[0]
        segments += len(_segments(len(noisy), loaded.model.config.front_end.segment_size))
        for name, network in networks.items():
            enhance(noisy, network)  # warm: the first call of a session allocates
            start = time.perf_counter()
            enhanced = enhance(noisy, network)
            seconds[name] += time.perf_counter() - start
            pesq[name].append(wideband_pesq(clean, enhanced))
    change = np.subtract(pesq["int8"], pesq["float"])
    figures = {
        "float_bytes": exported.stat().st_size, "int8_bytes": quantised.stat().st_size,
        "float_pesq": float(np.mean(pesq["float"])), "int8_pesq": float(np.mean(pesq["int8"])),
        "pesq_change_mean": float(change.mean()), "pesq_change_worst": float(change.min()),
        "float_seconds_per_segment": seconds["float"] / segments,
        "int8_seconds_per_segment": seconds["int8"] / segments,
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"{system}: " + ", ".join(f"{name} {value:.4g}" for name, value in figures.items()), file=sys.stderr)
