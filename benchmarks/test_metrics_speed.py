"""Cost per file of each measure on the 12 VoiceBank+DEMAND sample pairs, wall time of the CLI, and
the full suite against the authors' serial scoring script.

    IMSE_BENCH_SHARED=../shared python -m pytest benchmarks/test_metrics_speed.py \
        -o addopts="" --benchmark-enable -s

With OFFICIAL_PYTHON (numpy, scipy, pesq, librosa suffice) and OFFICIAL_IMSE_REPOSITORY set,
`test_full_suite_against_the_authors_serial_script` times, alternating in one run, the
authors' serial loop (their `cal_metrics`: librosa loading and `compute_metrics`, the six
classic measures; `official_scoring.py`) and `bench.evaluate --jobs 2 --dnsmos` (the six,
ESTOI, SI-SDR and DNSMOS), both on the sample's noisy files, and prints the ratio per file
(the issue asks for at least 4x); the same without --dnsmos is timed beside them, so that
what DNSMOS costs is visible.

(`-o addopts=""` clears the project's default --benchmark-skip, which --benchmark-enable
does not override; `-s` shows the summary.) Each benchmark scores all 12 pairs per round;
the per-file cost is the fastest round / 12. The last test prints the table, the
composite/(PESQ+STOI) ratio (the issue asks for under a quarter; it is asserted on rounds
that time the three in alternation, as load from other processes otherwise decides it) and
the speed-up over a per-frame loop (tests/dummies/reference_composite.py, our own loop
written from the definitions, standing in for the upstream frame-loop code).
"""

from __future__ import annotations

import os

# Single-threaded BLAS, as in bench.evaluate's worker processes: on a shared 2-core machine a
# second BLAS thread only adds contention. Effective only if numpy is not imported yet.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bench.metrics import composite as measures  # noqa: E402
from bench.metrics.dnsmos import dnsmos  # noqa: E402
from bench.metrics.pesq_stoi import stoi, wideband_pesq  # noqa: E402
from bench.metrics.si_sdr import si_sdr  # noqa: E402
from benchmarks.official import official_code, run_official  # noqa: E402
from imse.audio import read_audio  # noqa: E402
from tests.dummies import reference_composite as reference  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16_000
COSTS: dict[str, float] = {}
WALL: dict[str, float] = {}
FULL_SUITE: dict[str, float] = {}


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    value = os.environ.get("IMSE_BENCH_SHARED")
    if not value or not (Path(value) / "vbdmd-sample").is_dir():
        pytest.skip("IMSE_BENCH_SHARED does not point at the shared folder with vbdmd-sample/")
    return Path(value) / "vbdmd-sample"


@pytest.fixture(scope="module")
def pairs(sample_dir):
    def load(path: Path) -> np.ndarray:
        return read_audio(path).samples.astype(np.float64)

    clean_paths = sorted((sample_dir / "clean").glob("*.wav"))
    return [(load(path), load(sample_dir / "noisy" / path.name)) for path in clean_paths]


MEASURES = {
    "pesq": lambda clean, noisy: wideband_pesq(clean, noisy),
    "stoi": lambda clean, noisy: stoi(clean, noisy, SAMPLE_RATE),
    "estoi": lambda clean, noisy: stoi(clean, noisy, SAMPLE_RATE, extended=True),
    "si_sdr": lambda clean, noisy: si_sdr(clean, noisy),
    "dnsmos": lambda clean, noisy: dnsmos(noisy),
    "llr": lambda clean, noisy: measures.log_likelihood_ratio(clean, noisy, SAMPLE_RATE),
    "wss": lambda clean, noisy: measures.weighted_spectral_slope(clean, noisy, SAMPLE_RATE),
    "segmental_snr": lambda clean, noisy: measures.segmental_snr(clean, noisy, SAMPLE_RATE),
    "composite": lambda clean, noisy: measures.composite_measures(clean, noisy, SAMPLE_RATE, 2.5),
    "frame_loop_llr": lambda clean, noisy: reference.llr(clean, noisy, SAMPLE_RATE),
    "frame_loop_wss": lambda clean, noisy: reference.wss(clean, noisy, SAMPLE_RATE),
    "frame_loop_composite": lambda clean, noisy: reference.composite(clean, noisy, SAMPLE_RATE, 2.5),
}
SLOW = {"frame_loop_llr", "frame_loop_wss", "frame_loop_composite", "dnsmos"}
WARM_UP_ONCE = {"dnsmos"}
"""Measures whose first call builds something (ONNX sessions, librosa's first mel filterbank): called on
one pair before timing, so that the cost per file is the cost of a file."""


@pytest.mark.parametrize("name", list(MEASURES))
def test_cost_per_file(benchmark, pairs, name):
    measure = MEASURES[name]
    if name in WARM_UP_ONCE:
        measure(*pairs[0])
    benchmark.group = "cost of scoring the 12 sample pairs"
    benchmark.pedantic(
        lambda: [measure(clean, noisy) for clean, noisy in pairs], rounds=1 if name in SLOW else 5,
        warmup_rounds=0 if name in SLOW else 1,
    )
    if benchmark.stats is not None:
        COSTS[name] = benchmark.stats.stats.min / len(pairs)


def test_interleaved_ratio(benchmark, pairs):
    """Composite vs PESQ + STOI timed in alternation, so that load from elsewhere hits both alike."""
    times: dict[str, list[float]] = {"composite": [], "pesq": [], "stoi": []}

    def one_round():
        for name in times:
            measure = MEASURES[name]
            start = time.perf_counter()
            for clean, noisy in pairs:
                measure(clean, noisy)
            times[name].append((time.perf_counter() - start) / len(pairs))

    benchmark.group = "composite vs PESQ + STOI, interleaved"
    benchmark.pedantic(one_round, rounds=5, warmup_rounds=1)
    if benchmark.stats is not None:
        fastest = {name: min(values) for name, values in times.items()}
        COSTS["interleaved ratio"] = fastest["composite"] / (fastest["pesq"] + fastest["stoi"])


@pytest.mark.parametrize("jobs", [1, 2])
def test_command_line_wall_time(benchmark, sample_dir, tmp_path, jobs):
    scoring = []

    def score():
        output = tmp_path / f"run{time.monotonic_ns()}" / "noisy.csv"
        subprocess.run(
            [sys.executable, "-m", "bench.evaluate", "--clean-dir", str(sample_dir / "clean"),
             "--enhanced-dir", str(sample_dir / "noisy"), "--output", str(output), "--jobs", str(jobs), "--quiet"],
            check=True, cwd=REPOSITORY, capture_output=True,
        )  # fmt: skip
        summary = json.loads(output.with_name("noisy.summary.json").read_text())
        scoring.append(summary["scoring_seconds"])

    benchmark.group = "python -m bench.evaluate on the 12 sample pairs"
    benchmark.pedantic(score, rounds=2, warmup_rounds=0)
    if benchmark.stats is not None:
        WALL[f"jobs {jobs}"] = benchmark.stats.stats.min
        WALL[f"jobs {jobs}, scoring loop only (from the summary)"] = min(scoring)


def _evaluate_seconds(sample_dir: Path, output: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds of the command, seconds of its scoring loop from the summary) of one --jobs 2 run."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bench.evaluate", "--clean-dir", str(sample_dir / "clean"),
         "--enhanced-dir", str(sample_dir / "noisy"), "--output", str(output), "--jobs", "2", "--quiet", *extra],
        check=True, cwd=REPOSITORY, capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    return wall, json.loads(output.with_name(output.stem + ".summary.json").read_text())["scoring_seconds"]


def test_full_suite_against_the_authors_serial_script(sample_dir, tmp_path):
    """Rounds of: the authors' serial loop, ours without DNSMOS, ours with it; the fastest of each, per file."""
    python, repository = official_code("imse")
    files = len(list((sample_dir / "clean").glob("*.wav")))
    times: dict[str, list[float]] = {}
    for index in range(2):
        official = run_official("official_scoring.py", python, ["--repository", repository,
                                                                 str(sample_dir / "clean"), str(sample_dir / "noisy")])
        times.setdefault("authors' serial script, six classic measures", []).append(sum(official.values()))
        for label, extra in (("ours --jobs 2, classic + ESTOI + SI-SDR", ()),
                             ("ours --jobs 2, classic + ESTOI + SI-SDR + DNSMOS", ("--dnsmos",))):
            wall, loop = _evaluate_seconds(sample_dir, tmp_path / f"round{index}-{len(extra)}" / "noisy.csv", *extra)
            times.setdefault(f"{label}, whole command", []).append(wall)
            times.setdefault(f"{label}, scoring loop", []).append(loop)
    FULL_SUITE.update({label: min(values) / files for label, values in times.items()})


def test_startup_time(benchmark):
    benchmark.group = "python -m bench.evaluate on the 12 sample pairs"
    benchmark.pedantic(
        lambda: subprocess.run([sys.executable, "-c", "import bench.evaluate"], check=True, cwd=REPOSITORY),
        rounds=2,
    )
    if benchmark.stats is not None:
        WALL["import only"] = benchmark.stats.stats.min


def test_report_full_suite():
    """Per-measure cost and the full suite against the authors' serial script, as measured in this run."""
    if not FULL_SUITE:
        pytest.skip("run with OFFICIAL_PYTHON and OFFICIAL_IMSE_REPOSITORY set (and IMSE_BENCH_SHARED) to measure")
    official = FULL_SUITE["authors' serial script, six classic measures"]
    lines = ["", "per file, fastest of the alternating rounds:"]
    lines += [f"  {label:<70}{seconds * 1000:8.0f} ms  ({official / seconds:.2f}x)" for label, seconds in
              FULL_SUITE.items()]
    lines += ["cost per file of each measure, one process (fastest round / 12):"]
    lines += [f"  {name:<22}{seconds * 1000:8.1f} ms" for name, seconds in COSTS.items() if name in MEASURES]
    print("\n".join(lines))


def test_report_and_ratio():
    if len(COSTS) < len(MEASURES) + 1:
        pytest.skip("run with --benchmark-enable (and IMSE_BENCH_SHARED) to measure")
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    lines = ["", f"cost per file (fastest round / 12), seconds, OPENBLAS_NUM_THREADS={threads}:"]
    lines += [f"  {name:<22}{COSTS[name]:.4f}" for name in MEASURES]
    separate = COSTS["composite"] / (COSTS["pesq"] + COSTS["stoi"])
    ratio = COSTS["interleaved ratio"]
    speedup = COSTS["frame_loop_composite"] / COSTS["composite"]
    lines.append(f"  composite / (PESQ + STOI): {ratio:.3f} interleaved, {separate:.3f} from the separate benchmarks")
    lines.append(f"  frame loop / vectorised composite = {speedup:.1f}x")
    lines += [f"  wall time, {name}: {seconds:.2f} s" for name, seconds in WALL.items()]
    print("\n".join(lines))
    assert ratio < 0.25, f"the vectorised composite costs {ratio:.2f} of PESQ+STOI, the issue allows 0.25"
    assert speedup > 5
