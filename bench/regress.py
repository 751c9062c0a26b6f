"""Regression checks: a fresh evaluation against the baselines committed in results/baselines/.

    python -m bench.regress [--check NAME ...] [--limit N] [--update]

Each check enhances a test set with some weights (the authors' bundles, or a fresh smoke
training run), scores it with the `loizou` variant (DNSMOS included, the `mos` extra), and
compares every utterance's every metric with the baseline, within a tolerance set per
metric; ESTOI, SI-SDR and DNSMOS only where the baseline holds them (one written before
they were scored checks the six of the papers). Any change to a model, the
DSP, a metric or the training code that moves a number fails, with a readable diff, until
the baseline is rewritten on purpose with --update. Nothing is cached between runs: the
audio is enhanced afresh in a temporary directory every time, on one torch thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench import pipeline
from bench.errors import BenchError, report_error
from bench.metrics import DEFAULT_VARIANT, FAILED, METRICS, OK
from bench.metrics.dnsmos import MEASURES as DNSMOS_MEASURES
from bench.metrics.table import read_table
from imse.atomic import atomic_write_text
from imse.loading import load_model

BASELINES = Path("results") / "baselines"

NEWER_MEASURES = ("estoi", "si_sdr", *DNSMOS_MEASURES)
"""Compared where a baseline holds them: one written before they were scored checks METRICS only."""

OFFICIAL_TOLERANCES = {"pesq": 2e-3, "csig": 5e-3, "cbak": 5e-3, "covl": 5e-3, "ssnr": 2e-2, "stoi": 1e-3,
                       "estoi": 1e-3, "si_sdr": 1e-2, **dict.fromkeys(DNSMOS_MEASURES, 5e-3)}
"""Inference of fixed weights is deterministic on a CPU; these allow for other CPUs' float rounding only
(DNSMOS: onnxruntime's kernels differ between instruction sets)."""

TRAINED_TOLERANCES = {"pesq": 0.05, "csig": 0.08, "cbak": 0.08, "covl": 0.08, "ssnr": 0.3, "stoi": 0.01,
                      "estoi": 0.01, "si_sdr": 0.3, **dict.fromkeys(DNSMOS_MEASURES, 0.08)}
"""A smoke run is bit-reproducible on one machine; on another CPU, rounding compounds over its steps."""


@dataclass(frozen=True)
class Check:
    """Weights (a bundle, or `train:<model>` for a seeded smoke run) on a test set."""

    weights: str
    test_set: str
    tolerances: dict[str, float]

    @property
    def name(self) -> str:
        """`weights@test_set`, the baseline's file name."""
        return f"{self.weights.replace(':', '-')}@{self.test_set}"


CHECKS = (
    Check("imse-vb-3.399", "vbdmd-sample", OFFICIAL_TOLERANCES),
    Check("muse-vb", "vbdmd-sample", OFFICIAL_TOLERANCES),
    Check("imse-vb-3.399", "vb-mini", OFFICIAL_TOLERANCES),
    Check("muse-vb", "vb-mini", OFFICIAL_TOLERANCES),
    Check("train:imse", "vb-mini", TRAINED_TOLERANCES),
)
SEED = pipeline.SEED


class RegressError(BenchError):
    """A regression run asked for something it must not do (a partial baseline, say)."""


def _test_set(name: str, work: Path, limit: int | None) -> pipeline.TestSet:
    """The named test set, or a directory of symlinks to its first `limit` pairs."""
    if name == "vbdmd-sample":
        shared = os.environ.get(pipeline.SHARED_VARIABLE)
        if not shared:
            raise pipeline.Skip(f"{pipeline.SHARED_VARIABLE} is not set; the VoiceBank+DEMAND sample is in ../shared")
        test_set = pipeline.sample_test_set(Path(shared))
    else:
        test_set = pipeline.export_test_split(name, name, work)
    if limit is None:
        return test_set
    subset = work / "subset" / name
    for kind, directory in (("clean", test_set.clean), ("noisy", test_set.noisy)):
        (subset / kind).mkdir(parents=True, exist_ok=True)
        for path in sorted(directory.glob("*.wav"))[:limit]:
            target = subset / kind / path.name
            if not target.exists():
                target.symlink_to(path.resolve())
    return pipeline.TestSet(name, subset / "clean", subset / "noisy", f"first {limit} of {test_set.description}")


def measure(check: Check, work: Path, limit: int | None = None) -> dict[str, dict]:
    """Fresh per-utterance loizou measures of one check (METRICS and those of NEWER_MEASURES scored):
    utterance -> {measure: value, status}."""
    test_set = _test_set(check.test_set, work, limit)
    weights = check.weights
    if weights.startswith("train:"):
        weights = str(pipeline.train_run(weights.split(":", 1)[1], "smoke", SEED, "vb-mini", work / "runs"))
    loaded = load_model(weights, trust_unknown=check.weights.startswith("train:"))
    enhanced = pipeline.enhance_test_set(loaded, test_set, work)
    table = pipeline.score(test_set, enhanced, work / "results", check.name, DEFAULT_VARIANT,
                           work / "scores" / check.name)
    rows, header = read_table(table)
    measures = [m for m in (*METRICS, *NEWER_MEASURES) if m in header]
    return {row["utterance"]: {"status": row["status"], **{m: row[m] for m in measures}} for row in rows}


def compare(check: Check, baseline: dict, fresh: dict[str, dict], complete: bool = True) -> list[str]:
    """Readable differences between a fresh measurement and its baseline; empty when within tolerance.

    `complete`: the fresh run covered the whole test set, so a baseline utterance it lacks is a difference.
    """
    problems = []
    expected = baseline["utterances"]
    for utterance in sorted(set(fresh) - set(expected)):
        problems.append(f"{check.name} {utterance}: not in the baseline")
    if complete:
        for utterance in sorted(set(expected) - set(fresh)):
            problems.append(f"{check.name} {utterance}: in the baseline, missing from this run")
    for utterance, values in sorted(fresh.items()):
        if utterance not in expected:
            continue
        before = expected[utterance]
        if values["status"] != before["status"]:
            problems.append(f"{check.name} {utterance}: status {before['status']} -> {values['status']}")
            continue
        for metric in (*METRICS, *(m for m in NEWER_MEASURES if m in before and m in values)):
            old, new = before[metric], values[metric]
            if old is None or new != new:  # failed rows carry NaN/None: the status check covers them
                continue
            if abs(new - old) > check.tolerances[metric]:
                problems.append(f"{check.name} {utterance} {metric}: {old:.4f} -> {new:.4f} "
                                f"(moved {new - old:+.4f}, tolerance {check.tolerances[metric]})")
    return problems


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _utterance_problem(values) -> str | None:
    if not isinstance(values, dict):
        return "not a JSON object"
    if values.get("status") not in (OK, FAILED):
        return f"status {values.get('status')!r} is neither {OK!r} nor {FAILED!r}"
    newer = [metric for metric in NEWER_MEASURES if metric in values]
    for metric in (*METRICS, *newer) if values["status"] == OK else ():
        if not _finite(values.get(metric)):
            return f"status ok but {metric} is not a finite number ({values.get(metric)!r})"
    return None


def baseline_problem(check: Check, document) -> str | None:
    """What makes `document` unusable as the baseline of `check` (schema, finite numbers, tolerances), or None."""
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("check") != check.name:
        return f"is the baseline of {document.get('check')!r}, not of {check.name}"
    if document.get("variant") != DEFAULT_VARIANT:
        return f"variant {document.get('variant')!r}, the checks score {DEFAULT_VARIANT!r}"
    tolerances = document.get("tolerances")
    if not isinstance(tolerances, dict):
        return "no tolerances"
    utterances = document.get("utterances")
    if not isinstance(utterances, dict) or not utterances:
        return "no utterances"
    held = {metric for values in utterances.values() if isinstance(values, dict) for metric in values}
    for metric in (*METRICS, *(m for m in NEWER_MEASURES if m in held)):
        if not _finite(tolerances.get(metric)) or tolerances[metric] < 0:
            return f"no tolerance for {metric} (a finite number >= 0)"
    for utterance, values in utterances.items():
        problem = _utterance_problem(values)
        if problem is not None:
            return f"utterance {utterance}: {problem}"
    return None


def load_baseline(check: Check, path: Path) -> dict:
    """The validated baseline of `check` at `path`; RegressError naming the file and the problem otherwise."""
    if not path.is_file():
        raise RegressError(f"{check.name}: no baseline at {path}; create it with --update")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RegressError(f"{path}: not a readable JSON baseline ({error}); "
                           "restore it or rewrite it with --update") from None
    problem = baseline_problem(check, document)
    if problem is not None:
        raise RegressError(f"{path}: {problem}; restore it or rewrite it with --update")
    return document


def baseline_document(check: Check, fresh: dict[str, dict]) -> dict:
    """The baseline JSON of a check: its settings, the versions, and every utterance's metrics (NaN as null)."""
    from bench.cpu_kernels import instruction_set
    from bench.metrics.dnsmos import PACKAGES as DNSMOS_PACKAGES
    from bench.provenance import PACKAGES, package_versions, running_revision

    return {
        "check": check.name, "weights": check.weights, "test_set": check.test_set, "variant": DEFAULT_VARIANT,
        "seed": SEED if check.weights.startswith("train:") else None, "tolerances": check.tolerances,
        "source": "measured by python -m bench.regress --update", "revision": running_revision(),
        "versions": package_versions(PACKAGES + DNSMOS_PACKAGES),
        "cpu_instruction_set": instruction_set(),
        "utterances": {u: {k: (None if isinstance(v, float) and v != v else v) for k, v in values.items()}
                       for u, values in sorted(fresh.items())},
    }


@dataclass
class Outcome:
    """What a regression run found: differences beyond tolerance, and checks that could not run here."""

    checked: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_checks(checks: Sequence[Check], baselines: Path = BASELINES, limit: int | None = None,
               update: bool = False) -> Outcome:
    """Measure each check afresh (one torch thread, a temporary directory) and compare it with its baseline.

    With `update` the baselines are rewritten from this run instead. Raises RegressError for
    `update` with `limit` (a partial baseline), and, before anything is measured, for a missing
    or invalid baseline (null or non-finite metrics, no tolerances, another check's file).
    """
    if update and limit:
        raise RegressError("--update with --limit would write a partial baseline")
    expected = {} if update else {check.name: load_baseline(check, baselines / f"{check.name}.json")
                                  for check in checks}
    # One torch thread: the float rounding of enhancement and training then does not depend on
    # the machine's core count, and the baselines (made so) reproduce wherever CI runs.
    torch.set_num_threads(1)
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="imse-regress-") as temporary:
        work = Path(temporary)
        for check in checks:
            print(f"==> {check.name}", file=sys.stderr, flush=True)
            try:
                fresh = measure(check, work, limit)
            except pipeline.Skip as reason:
                outcome.skipped.append(f"{check.name}: {reason}")
                continue
            outcome.checked += 1
            path = baselines / f"{check.name}.json"
            if update:
                atomic_write_text(path, json.dumps(baseline_document(check, fresh), indent=2) + "\n")
                print(f"updated {path}", file=sys.stderr)
            else:
                outcome.failures.extend(compare(check, expected[check.name], fresh, limit is None))
    return outcome


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.regress`: run the checks; 1 when a number moved, 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.regress", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", nargs="+", action="extend", choices=[check.name for check in CHECKS],
                        help="default: all")
    parser.add_argument("--limit", type=int, help="only the first N utterances of each test set")
    parser.add_argument("--update", action="store_true", help="rewrite the baselines from this run, on purpose")
    parser.add_argument("--baselines", type=Path, default=BASELINES)
    arguments = parser.parse_args(argv)
    checks = [check for check in CHECKS if not arguments.check or check.name in arguments.check]
    try:
        outcome = run_checks(checks, arguments.baselines, arguments.limit, arguments.update)
    except BenchError as error:
        return report_error(error)
    for line in outcome.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    if outcome.failures:
        print(f"REGRESSION: {len(outcome.failures)} difference(s) beyond tolerance:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in outcome.failures), file=sys.stderr)
        return 1
    print(f"ok: {outcome.checked} checks within tolerance, {len(outcome.skipped)} skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
