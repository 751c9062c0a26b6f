"""The GPU check: what the CUDA paths of training and inference do, in one short run (issue 16, section 5).

    IMSE_BENCH_SHARED=../shared python scripts/gpu_check.py --output gpu-check.json

On a machine with a CUDA device it runs, in a few minutes on one data-centre GPU:
  0. the training-step parity check (`bench.train.parity`) on CUDA against each reference in
     $IMSE_BENCH_SHARED/parity: its verdict and agreement figures;
  1. the paper profile (the authors' recipe, 2 s crops) for --steps steps on VB-mini, per
     model (IMSE and MUSE): steps per second after warm-up and peak GPU memory;
  2. the first --repeat-steps steps twice with --deterministic and twice without, from the
     same seed: how far apart the two runs' generator weights end (maximum difference, share
     of weights more than 1e-5 apart);
  3. the forward latency of one 30,700-sample segment on the GPU for every registered model
     (CPU latency is bench.complexity's).
It prints each figure as it comes and writes them all to --output as JSON, with the machine
and versions. `--device cpu` (with a few steps) tries the plumbing of 0-2 on a machine
without one (step 0 is two whole parity checks, about 2 minutes); its figures say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, installed or not

from bench.complexity import gpu_latency  # noqa: E402
from bench.pipeline import SHARED_VARIABLE  # noqa: E402
from bench.provenance import package_versions, running_revision  # noqa: E402
from bench.train.config import profile_config  # noqa: E402
from bench.train.logs import TIMING_LOG  # noqa: E402
from bench.train.loop import CHECKPOINT, RunOptions, train  # noqa: E402
from bench.train.parity import ParityError, check_parity, load_reference  # noqa: E402
from imse.arguments import positive_integer  # noqa: E402
from imse.atomic import atomic_write_text  # noqa: E402
from imse.checkpoint import load_checkpoint  # noqa: E402
from imse.frontend import SEGMENT_SIZE  # noqa: E402
from imse.registry import registry  # noqa: E402

PARITY_REFERENCES = ("imse_train_step.pt", "muse_train_step.pt")
WARM_UP_STEPS = 10
"""Steps left out of the steps-per-second figure: the first ones allocate and tune kernels."""
TRAINED_MODELS = ("imse", "muse")
VALIDATION_UTTERANCES = 8


def _train(model: str, data: str, steps: int, device: str, run_dir: Path, deterministic: bool) -> Path:
    """`steps` steps of the paper profile, validated (8 utterances) at the start and the end; returns the run
    directory."""
    config = profile_config("paper", model, data, max_steps=steps, partial_data=True, deterministic=deterministic,
                            validation_interval=steps + 1, validation_utterances=VALIDATION_UTTERANCES,
                            checkpoint_interval=steps)
    train(config, RunOptions(run_dir=run_dir, progress=False, device=device))
    return run_dir


def training_speed(model: str, data: str, steps: int, device: str, work: Path) -> dict:
    """Steps per second (median step after WARM_UP_STEPS, or of all steps when there are no more) and peak GPU
    memory of `steps` paper-profile steps; the peak and the wall time include the two validations."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run_dir = _train(model, data, steps, device, work / f"{model}-speed", deterministic=False)
    wall = time.perf_counter() - start
    with open(run_dir / TIMING_LOG, newline="", encoding="utf-8") as log:
        seconds = [float(row["seconds"]) for row in csv.DictReader(log)]
    measured = seconds[WARM_UP_STEPS:] or seconds
    return {"model": model, "steps": steps, "wall_seconds": wall,
            "median_step_seconds": statistics.median(measured), "steps_per_second": 1 / statistics.median(measured),
            "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None}


def run_to_run_difference(data: str, steps: int, device: str, work: Path, deterministic: bool) -> dict:
    """Two IMSE runs of `steps` steps from the same seed: how far apart their generator weights end."""
    weights = []
    for attempt in ("first", "second"):
        run_dir = _train("imse", data, steps, device, work / f"repeat-{deterministic}-{attempt}", deterministic)
        weights.append(load_checkpoint(run_dir / CHECKPOINT)["generator"])
    differences = torch.cat([(weights[0][name].float() - weights[1][name].float()).abs().flatten()
                             for name in weights[0] if weights[0][name].is_floating_point()])
    return {"deterministic": deterministic, "steps": steps, "max_abs_difference": float(differences.max()),
            "share_beyond_1e-5": float((differences > 1e-5).float().mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="the JSON file of every figure")
    parser.add_argument("--data", default="vb-mini")
    parser.add_argument("--steps", type=positive_integer, default=300)
    parser.add_argument("--repeat-steps", type=positive_integer, default=20)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    arguments = parser.parse_args(argv)
    if arguments.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; this check is for a GPU machine (--device cpu tries its plumbing)",
              file=sys.stderr)
        return 2
    record: dict = {"device": torch.cuda.get_device_name(0) if arguments.device == "cuda" else "cpu",
                    "revision": running_revision(), "versions": package_versions(), "data": arguments.data,
                    "parity": [], "training": [], "repeats": [], "latency": []}

    def report(section: str, figures: dict) -> None:
        record[section].append(figures)
        print(f"{section}: {json.dumps(figures)}", flush=True)
        atomic_write_text(arguments.output, json.dumps(record, indent=2) + "\n")

    shared = Path(os.environ.get(SHARED_VARIABLE, "../shared"))
    for name in PARITY_REFERENCES:
        try:
            result = check_parity(load_reference(shared / "parity" / name), device=arguments.device)
        except ParityError as error:  # the other sections still run: GPU time is scarce
            print(f"parity: {error}", file=sys.stderr, flush=True)
            report("parity", {"reference": name, "error": str(error)})
            continue
        print(result.report(), flush=True)
        report("parity", {"reference": name, "passed": result.passed, **result.to_json()})
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as temporary:
        work = Path(temporary)
        for model in TRAINED_MODELS:
            report("training", training_speed(model, arguments.data, arguments.steps, arguments.device, work))
        # default kernels first: use_deterministic_kernels(True) is not undone within a process
        for deterministic in (False, True):
            report("repeats", run_to_run_difference(arguments.data, arguments.repeat_steps, arguments.device, work,
                                                    deterministic))
    if arguments.device == "cuda":
        for model in registry.model_names():
            report("latency", {"model": model, "segment_samples": SEGMENT_SIZE,
                               "gpu_forward_seconds": gpu_latency(registry.build(model), SEGMENT_SIZE)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
