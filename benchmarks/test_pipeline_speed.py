"""How much the main job's enhancement step gains from sharing a test set among worker processes.

    IMSE_BENCH_SHARED=../shared python -m pytest benchmarks/test_pipeline_speed.py -s

`bench.pipeline.enhance_test_set` on the 12 sample files with the IMSE bundle on one torch
thread, in one process and in as many as the cores hold, alternating, each into an empty
directory; the wall-clock ratio, and a check that both wrote the same samples.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import soundfile
import torch

from bench import pipeline
from bench.workers import usable_cores
from imse.loading import load_model

ROUNDS = 2


@pytest.mark.parametrize("bundle", ["imse-vb-3.399"])
def test_enhancement_workers_speed_ratio(checkpoint_dir, sample_dir, bundle, tmp_path, record_property):
    if usable_cores() < 2:
        pytest.skip("one core: there is nothing to share the files among")
    torch.set_num_threads(1)
    loaded = load_model(bundle, cache_dir=checkpoint_dir)
    test_set = pipeline.TestSet("vbdmd-sample", sample_dir / "clean", sample_dir / "noisy", "the shared sample")
    seconds: dict[int, list[float]] = {1: [], usable_cores(): []}
    outputs = {}
    for attempt in range(ROUNDS):
        for jobs in seconds:
            start = time.perf_counter()
            outputs[jobs] = pipeline.enhance_test_set(loaded, test_set, tmp_path / f"{jobs}-{attempt}", jobs=jobs)
            seconds[jobs].append(time.perf_counter() - start)
    for path in sorted(outputs[1].glob("*.wav")):
        alone = soundfile.read(path, dtype="float32")[0]
        shared = soundfile.read(outputs[usable_cores()] / path.name, dtype="float32")[0]
        assert np.array_equal(alone, shared), f"{path.name}: the shared run wrote other samples"
    medians = {jobs: float(np.median(times)) for jobs, times in seconds.items()}
    ratio = medians[1] / medians[usable_cores()]
    for jobs, median in medians.items():
        record_property(f"seconds_{jobs}_process", median)
    record_property("speed_ratio", ratio)
    print(f"{bundle} on the sample, 1 thread: " + ", ".join(f"{jobs} process(es) {median:.1f} s"
                                                             for jobs, median in medians.items())
          + f"; ratio {ratio:.2f}x", file=sys.stderr)
