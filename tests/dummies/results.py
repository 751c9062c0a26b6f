"""A small but real results/ tree: synthetic pairs scored by the real pipeline, for table and plot tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas
import soundfile

from bench import pipeline
from bench.conditions import Condition, write_conditions
from bench.results import ORIGIN_TRAINED, ORIGIN_UPSTREAM
from bench.train.budget import TrainingBudget
from tests.dummies.audio import speech_like

REPOSITORY = Path(__file__).resolve().parents[2]
SMOKE_BUDGET = TrainingBudget(profile="smoke", steps=100, batch_size=2, crop_seconds=0.49375, learning_rate=5e-4,
                              data="vb-mini", step_minutes=6.5, best_step=100)
"""The budget the trained rows record."""


def write_results(root: Path, utterances: int = 4, gtcrn: bool = False) -> Path:
    """results/ with reported.csv, complexity and scaling tables and three scored systems (both variants, with
    synthetic conditions: SNR and noise type);
    `gtcrn` adds GTCRN: a complexity row without segment MACs, scaling rows without a block split, gtcrn-vb."""
    results = root / "results"
    results.mkdir(parents=True)
    shutil.copy(REPOSITORY / "results" / "reported.csv", results / "reported.csv")
    pandas.DataFrame({
        "model": ["imse", "muse"], "parameters": [432_995, 513_015],
        "parameters_paper_convention": [427_619, 513_015], "macs_1s_fvcore": [4.67e9, 5.35e9],
        "macs_1s_ptflops": [4.68e9, 5.36e9], "macs_segment_fvcore": [8.77e9, 10.0e9],
        "full_2thread_rtf": [0.1, 0.15], "segmented_2thread_rtf": [0.12, 0.18], "full_1thread_rtf": [0.15, 0.25],
        "segmented_1thread_rtf": [0.2, 0.3], "peak_memory_mb": [300.0, 400.0], "gpu_forward_s": [None, None],
        "machine": ["x86_64", "x86_64"], "cpu_count": [2, 2], "gpu": ["none", "none"],
    }).to_csv(results / "complexity.csv", index=False)
    scaling = [{"model": model, "seconds": seconds, "samples": seconds * 16_300,
                "macs": seconds * total, "macs_embedding": seconds * 0.1e9, "macs_attention": seconds * attention,
                "macs_feedforward": seconds * 1.4e9, "macs_norm": 0,
                "macs_unet-resampling": seconds * 0.1e9, "macs_encoder-decoder": seconds * (total - 1.6e9 - attention),
                "latency_median_s": rtf * seconds, "rtf": rtf, "latency_threads": 2, "machine": "x86_64",
                "cpu_count": 2}
               for model, total, attention, rtf in (("imse", 4.68e9, 1.0e9, 0.2), ("muse", 5.22e9, 1.5e9, 0.3))
               for seconds in (1, 2, 4)]
    if gtcrn:
        _add_gtcrn_complexity(results, scaling)
    pandas.DataFrame(scaling).to_csv(results / "complexity_scaling.csv", index=False)
    rng = np.random.default_rng(0)
    directories = {kind: root / "audio" / kind for kind in ("clean", "noisy", "good", "better")}
    for directory in directories.values():
        directory.mkdir(parents=True)
    for index in range(utterances):
        clean = speech_like(1.5, seed=index).astype(np.float32)
        noise = rng.standard_normal(clean.size).astype(np.float32)
        for kind, level in (("clean", 0.0), ("noisy", 0.05), ("good", 0.01), ("better", 0.004 + 0.002 * index)):
            soundfile.write(directories[kind] / f"u{index}.wav", clean + level * noise, 16_000, subtype="FLOAT")
    conditions = root / "audio" / "conditions.csv"
    write_conditions(conditions, {f"u{index}": Condition(2.5 + 5 * (index % 2), ("bus", "cafe", "street")[index % 3])
                                  for index in range(utterances)})
    test_set = pipeline.TestSet("vbdmd-sample", directories["clean"], directories["noisy"], "synthetic test pairs",
                                conditions)
    pipeline.evaluate_noisy(test_set, results, root / "work")
    for system, kind, origin, model in (("imse-vb-3.399", "better", ORIGIN_UPSTREAM, "imse"),
                                        ("muse-vb", "good", ORIGIN_UPSTREAM, "muse"),
                                        ("trained-imse", "good", ORIGIN_TRAINED, "imse"),
                                        *((("gtcrn-vb", "good", ORIGIN_UPSTREAM, "gtcrn"),) if gtcrn else ())):
        for variant in pipeline.VARIANTS:
            pipeline.score(test_set, directories[kind], results, system, variant, root / "work" / system)
        details = {"budget": SMOKE_BUDGET.as_record(), "profile": "smoke"} if origin == ORIGIN_TRAINED else {}
        pipeline.record_provenance(results, test_set, system, origin, model=model, **details)
    return results


def _add_gtcrn_complexity(results: Path, scaling: list[dict]) -> None:
    """GTCRN's complexity row (no segments: empty segment MACs) and scaling rows (no block split: empty blocks)."""
    path = results / "complexity.csv"
    frame = pandas.read_csv(path)
    row = {**frame.iloc[0].to_dict(), "model": "gtcrn", "parameters": 23_669, "parameters_paper_convention": 23_669,
           "macs_1s_fvcore": 29_072_896, "macs_1s_ptflops": 28_692_864, "macs_segment_fvcore": None}
    pandas.concat([frame, pandas.DataFrame([row])]).to_csv(path, index=False)
    blocks = [key for key in scaling[0] if key.startswith("macs_")]
    scaling.extend({**scaling[0], "model": "gtcrn", "seconds": seconds, "samples": seconds * 16_300,
                    "macs": seconds * 28_692_864, **dict.fromkeys(blocks), "latency_median_s": 0.05 * seconds,
                    "rtf": 0.05} for seconds in (1, 2, 4))
