"""The main job: complexity, evaluation of the authors' weights, brief training, tables, plots.

    python -m bench.reproduce [--profile smoke|paper] [--data SOURCE] [--results DIR] [--seed N] [--threads N]

With no arguments (the `smoke` profile) it runs on this machine, offline, in about an hour
on 2 CPU cores (measured: 51 minutes from a clean clone with an empty cache, before the
memory probes went from one to five per model): it measures complexity, evaluates the
pretrained bundles on VB-mini's test split and on the real VoiceBank+DEMAND sample in
../shared (and on --data's test split when given), trains each registered model briefly on
VB-mini and evaluates that, then writes the tables, plots and the report page (results/report,
`bench.report`). It says what it skipped and
why. Every step resumes: a killed run picks up where it stopped. It only strings existing
commands together.

Enhancement and training run on `--threads` torch threads (default 1), recorded in every
provenance file: the float rounding of a convolution depends on how its work is split, so
the same seed gives the same numbers only on the same thread count. One thread makes the
results independent of the machine's core count and equal to `bench.regress`'s baselines.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from bench import pipeline
from bench.errors import BenchError, report_error
from bench.metrics import DEFAULT_VARIANT
from bench.results import ORIGIN_TRAINED, ORIGIN_UPSTREAM, measured_table
from bench.train.budget import TrainingBudget
from bench.train.config import PROFILES
from imse.arguments import positive_integer
from imse.atomic import atomic_write_text
from imse.checkpoint import CheckpointError
from imse.registry import registry

COMPARISONS = (("imse-vb-3.399", "muse-vb"), ("trained-imse", "trained-muse"), ("imse-vb-3.399", "imse-vb-3.373"),
               ("imse-vb-3.399", "gtcrn-vb"))


class Log:
    """What ran and what was skipped, printed as it goes and summarised at the end."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def step(self, message: str) -> None:
        """Announce a step as it starts."""
        print(f"==> {message}", file=sys.stderr, flush=True)

    def skip(self, message: str) -> None:
        """Announce a step left out, and keep it for the closing summary."""
        print(f"skipped: {message}", file=sys.stderr, flush=True)
        self.skipped.append(message)


def _test_sets(data: str | None, work: Path, log: Log) -> list[pipeline.TestSet]:
    test_sets = [pipeline.export_test_split("vb-mini", "vb-mini", work)]
    shared = os.environ.get(pipeline.SHARED_VARIABLE)
    if shared and (Path(shared) / "vbdmd-sample").is_dir():
        test_sets.append(pipeline.sample_test_set(Path(shared)))
    else:
        log.skip(f"the VoiceBank+DEMAND sample: ${pipeline.SHARED_VARIABLE} does not point at a ../shared "
                 "with vbdmd-sample")
    if data:
        test_sets.append(pipeline.export_test_split(data, "vbdmd-test", work))
    else:
        log.skip("the full VoiceBank+DEMAND test set: no --data given (see README, 'Data')")
    return test_sets


def _significance(results: Path, test_sets: list[pipeline.TestSet]) -> None:
    from bench.compare import paired_comparison
    from bench.evaluate import to_json

    comparisons = []
    for test_set in test_sets:
        for system_a, system_b in COMPARISONS:
            table_a = measured_table(results, test_set.name, system_a, DEFAULT_VARIANT)
            table_b = measured_table(results, test_set.name, system_b, DEFAULT_VARIANT)
            if table_a.exists() and table_b.exists():
                comparison = paired_comparison(table_a, table_b)
                comparisons.append({"system_a": system_a, "system_b": system_b, "dataset": test_set.name,
                                    **comparison})
    atomic_write_text(results / "significance.json", to_json(comparisons))


def _complexity(results: Path, models: list[str]) -> None:
    """complexity.csv and complexity_scaling.csv of `models`, three timed repeats each."""
    from bench.complexity import ComplexityOptions, measure_complexity

    print(measure_complexity(ComplexityOptions(models, output=results / "complexity.csv", repeats=3,
                                               scaling_output=results / "complexity_scaling.csv")))


def _evaluate_bundles(test_sets: list[pipeline.TestSet], results: Path, work: Path, log: Log) -> None:
    """The Noisy row and every registered bundle on every test set; a bundle whose weights are absent is skipped."""
    for test_set in test_sets:
        log.step(f"scoring the noisy input of {test_set.name}")
        pipeline.evaluate_noisy(test_set, results, work)
        for bundle in registry.bundle_names():
            log.step(f"evaluating bundle {bundle} on {test_set.name}")
            try:
                pipeline.evaluate_weights(bundle, test_set, results, work, bundle, ORIGIN_UPSTREAM)
            except CheckpointError as error:
                log.skip(f"bundle {bundle}: {error}")


def _train_and_evaluate(models: list[str], profile: str, seed: int, training_data: str,
                        test_sets: list[pipeline.TestSet], results: Path, work: Path, log: Log) -> None:
    """Train each model (or skip it, saying why) and evaluate its best checkpoint on every test set."""
    for model in models:
        log.step(f"training {model} ({profile} profile, seed {seed}) on {training_data}")
        try:
            best = pipeline.train_run(model, profile, seed, training_data, work / "runs")
        except pipeline.Skip as reason:
            log.skip(str(reason))
            continue
        budget = TrainingBudget.from_run(best.parent)
        print(f"trained {model}: {budget.label()}, {budget.step_minutes:g} min of steps", file=sys.stderr)
        for test_set in test_sets:
            log.step(f"evaluating trained {model} on {test_set.name}")
            pipeline.evaluate_weights(str(best), test_set, results, work, f"trained-{model}", ORIGIN_TRAINED,
                                      seed=seed, profile=profile, training_data=training_data, run=str(best.parent),
                                      budget=budget.as_record())


def run(profile: str, data: str | None, results: Path, seed: int, models: list[str], skip_complexity: bool) -> Log:
    """Every step of the main job into `results`; returns the log of what was skipped.

    A step that fails raises (a BenchError, or the training and checkpoint layers' own errors).
    """
    log = Log()
    work = pipeline.work_dir()
    print(f"seed {seed}; profile {profile}; {torch.get_num_threads()} torch thread(s); results in {results}; "
          f"audio and runs in {work}", file=sys.stderr)
    if skip_complexity:
        log.skip("complexity: --skip-complexity")
    else:
        log.step("complexity of " + ", ".join(models))
        _complexity(results, models)
    test_sets = _test_sets(data, work, log)
    _evaluate_bundles(test_sets, results, work, log)
    training_data = data if profile == "paper" and data else "vb-mini"
    _train_and_evaluate(models, profile, seed, training_data, test_sets, results, work, log)
    log.step("significance, tables and plots")
    _significance(results, test_sets)
    write_tables_and_plots(results)
    log.step(f"the report page, {results / 'report'}")
    from bench.report import write_report

    write_report(results, results / "report", work=work)
    return log


def write_tables_and_plots(results: Path) -> None:
    """tables.csv, tables.md and tables.tex under results/tables, and the plots under results/plots."""
    from bench import plots, tables

    for output_format, suffix in (("csv", "csv"), ("markdown", "md"), ("latex", "tex")):
        tables.write_tables(results, output_format, output=results / "tables" / f"tables.{suffix}")
    plots.write_plots(results, results / "plots")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.reproduce`: parse, run every step, print what was skipped."""
    parser = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="smoke")
    parser.add_argument("--data", help="a VoiceBank+DEMAND source for the full test set (and paper training)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--seed", type=int, default=pipeline.SEED)
    parser.add_argument("--model", nargs="+", action="extend",
                        help="models to measure and train (default: all registered)")
    parser.add_argument("--skip-complexity", action="store_true")
    parser.add_argument("--threads", type=positive_integer, default=1,
                        help="torch threads for enhancement and training (default 1: see above); "
                             "latency is measured at 1 and all threads regardless")
    arguments = parser.parse_args(argv)
    models = arguments.model or registry.model_names()
    torch.set_num_threads(arguments.threads)
    try:
        log = run(arguments.profile, arguments.data, arguments.results, arguments.seed, models,
                  arguments.skip_complexity)
    except BenchError as error:
        return report_error(error)
    print(f"\ndone; seed {arguments.seed}. Tables: {arguments.results / 'tables'}; plots: "
          f"{arguments.results / 'plots'}", file=sys.stderr)
    if log.skipped:
        print("skipped:\n" + "\n".join(f"  - {line}" for line in log.skipped), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
