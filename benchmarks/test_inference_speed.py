"""Enhancement speed: real-time factor of IMSE, MUSE and GTCRN, GTCRN's streaming time per hop,
and the ratio to the authors' own code.

    python -m pytest benchmarks/test_inference_speed.py --benchmark-enable -s

For the ratio, point OFFICIAL_PYTHON at an environment with the official code's dependencies
and OFFICIAL_IMSE_REPOSITORY / OFFICIAL_MUSE_REPOSITORY at checkouts of the authors'
repositories; both codes then run on the same files, threads and machine, alternating, in
one run. Without them the ratio is skipped, saying why.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from benchmarks.official import official_code, run_official
from imse.enhance import enhance
from imse.loading import load_model
from imse.streaming import StreamingEnhancer

BUNDLES = {"imse": "imse-vb-3.399", "muse": "muse-vb"}
"""Systems whose authors' inference code the ratio runs beside ours."""
RATE_BUNDLES = {**BUNDLES, "gtcrn": "gtcrn-vb"}
"""Systems whose real-time factor is measured (GTCRN has no segments: both modes are a whole pass)."""
OFFICIAL_CHECKPOINTS = {"imse": "imse/g_best_pesq_3.399", "muse": "muse/g_best"}


def _files(sample_dir: Path) -> list[Path]:
    return sorted((sample_dir / "noisy").glob("*.wav"))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mode", ["segmented", "full"])
@pytest.mark.parametrize("system", sorted(RATE_BUNDLES))
def test_enhancement_real_time_factor(benchmark, checkpoint_dir, sample_dir, system, mode, threads):
    model = load_model(RATE_BUNDLES[system], cache_dir=checkpoint_dir).model
    audio = [soundfile.read(path, dtype="float32")[0] for path in _files(sample_dir)]
    seconds = sum(len(samples) for samples in audio) / 16_000
    torch.set_num_threads(threads)

    def run() -> None:
        for samples in audio:
            enhance(samples, model, mode)

    benchmark.pedantic(run, rounds=2, warmup_rounds=1)
    benchmark.extra_info.update(
        audio_seconds=seconds, real_time_factor=benchmark.stats.stats.median / seconds, threads=threads
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("system", sorted(BUNDLES))
def test_speed_ratio_to_official_code(checkpoint_dir, sample_dir, system, threads, record_property):
    python, repository = official_code(system)
    files = _files(sample_dir)
    model = load_model(BUNDLES[system], cache_dir=checkpoint_dir).model
    torch.set_num_threads(threads)
    ours_total, official_total = 0.0, 0.0
    for path in files:  # alternate per file, so drift in machine speed hits both alike
        samples = soundfile.read(path, dtype="float32")[0]
        start = time.perf_counter()
        enhance(samples, model, "segmented")
        ours_total += time.perf_counter() - start
        arguments = ["--repository", repository, "--system", system, "--threads", str(threads),
                     "--checkpoint", str(checkpoint_dir / OFFICIAL_CHECKPOINTS[system]), str(path)]
        official_total += sum(run_official("official_inference.py", python, arguments).values())
    ratio = official_total / ours_total
    record_property("speedup", ratio)
    print(f"{system} {threads} thread(s): official {official_total:.2f} s, ours {ours_total:.2f} s, "
          f"speed-up {ratio:.2f}x", file=sys.stderr)


@pytest.mark.parametrize("threads", [1, 2])
def test_gtcrn_streaming_time_per_hop(checkpoint_dir, sample_dir, threads, record_property):
    """Compute time of each 256-sample hop through the cached model (median, p99), against the
    16 ms a hop lasts; the algorithmic latency is the window plus one hop."""
    model = load_model("gtcrn-vb", cache_dir=checkpoint_dir).model
    torch.set_num_threads(threads)
    times = []
    for path in _files(sample_dir):
        samples = soundfile.read(path, dtype="float32")[0]
        stream = StreamingEnhancer(model)
        hop = stream.hop
        for start in range(0, len(samples) - hop + 1, hop):
            begun = time.perf_counter()
            stream.push(samples[start : start + hop])
            times.append(time.perf_counter() - begun)
    front_end = model.config.front_end
    hop_ms = 1000 * front_end.stft.hop_length / front_end.sample_rate
    latency_ms = 1000 * (front_end.stft.win_length + front_end.stft.hop_length) / front_end.sample_rate
    median, p99 = (1000 * float(np.percentile(times, q)) for q in (50, 99))
    for name, value in (("hop_median_ms", median), ("hop_p99_ms", p99), ("algorithmic_latency_ms", latency_ms)):
        record_property(name, value)
    print(f"gtcrn streaming, {threads} thread(s): {len(times)} hops, median {median:.2f} ms, p99 {p99:.2f} ms "
          f"per {hop_ms:.0f} ms hop; algorithmic latency {latency_ms:.0f} ms", file=sys.stderr)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("system", sorted(BUNDLES))
def test_time_per_segment_by_backend(checkpoint_dir, sample_dir, system, threads, tmp_path, monkeypatch,
                                     record_property):
    """Seconds per 30,700-sample segment of segmented inference on the 12 sample files, in one run,
    alternating file by file: ours in torch, ours in onnxruntime (the cached export) and, when
    OFFICIAL_PYTHON and the repository are set, the authors' code; the ratios to the authors'."""
    pytest.importorskip("onnxruntime", reason='the onnxruntime backend needs pip install -e ".[onnx]"')
    from imse.enhance import _segments
    from imse.export.runtime import onnxruntime_network

    monkeypatch.setenv("IMSE_EXPORT_DIR", str(tmp_path))
    loaded = load_model(BUNDLES[system], cache_dir=checkpoint_dir)
    torch.set_num_threads(threads)
    backends = {"torch": loaded.model, "onnxruntime": onnxruntime_network(loaded, threads)}
    try:
        official = official_code(system)
    except pytest.skip.Exception as reason:
        official = None
        print(f"official code not timed: {reason}", file=sys.stderr)
    totals = dict.fromkeys([*backends, *(["official"] if official else [])], 0.0)
    segments = 0
    for path in _files(sample_dir):
        samples = soundfile.read(path, dtype="float32")[0]
        segments += len(_segments(len(samples), loaded.model.config.front_end.segment_size))
        for name, network in backends.items():
            enhance(samples, network)  # warm: the first call of a session or shape allocates
            start = time.perf_counter()
            enhance(samples, network)
            totals[name] += time.perf_counter() - start
        if official:
            arguments = ["--repository", official[1], "--system", system, "--threads", str(threads),
                         "--checkpoint", str(checkpoint_dir / OFFICIAL_CHECKPOINTS[system]), str(path)]
            totals["official"] += sum(run_official("official_inference.py", official[0], arguments).values())
    per_segment = {name: total / segments for name, total in totals.items()}
    for name, seconds in per_segment.items():
        record_property(f"{name}_seconds_per_segment", seconds)
    reference = per_segment.get("official", per_segment["torch"])
    table = ", ".join(f"{name} {seconds:.3f} s ({reference / seconds:.2f}x)" for name, seconds in per_segment.items())
    print(f"{system} {threads} thread(s), {segments} segments, ratio to {'official' if official else 'torch'}: "
          f"{table}", file=sys.stderr)
