"""The main job: complexity, evaluation of the authors' weights, brief training, tables, plots.

    python -m bench.reproduce [--profile smoke|cpu|paper] [--data SOURCE] [--results DIR] [--seed N] [--threads N]
                              [--model MODEL ...] [--train MODEL ... | all] [--skip-complexity]
    python -m bench.reproduce --evaluate-run RUN_DIR --system trained-NAME [--data SOURCE] [--results DIR]

With no arguments (the `smoke` profile) it runs on this machine, offline, within an hour on
2 CPU cores (see the README for the last measured time): it measures complexity, evaluates
the pretrained bundles on VB-mini's test split and on the real VoiceBank+DEMAND sample in
../shared (and on --data's test split when given), trains IMSE briefly on VB-mini and
evaluates that, then writes the tables, plots and the report page (results/report,
`bench.report`). `--train all` trains every registered model instead, one run per core at a
time: the ablation table's runs, half an hour more (`nox -s ablation`). It says what it
skipped and why. Every step resumes: a killed run picks up where it stopped. It only strings
existing commands together.

Enhancement and training run on `--threads` torch threads (default 1), recorded in every
provenance file: the float rounding of a convolution depends on how its work is split, so
the same seed gives the same numbers only on the same thread count. One thread makes the
results independent of the machine's core count and equal to `bench.regress`'s baselines.

`--evaluate-run RUN_DIR --system trained-NAME` evaluates a run trained on its own (the `cpu`
profile, a fine-tuning with --init) exactly as the main job evaluates its runs: the best
checkpoint on every test set, its budget, config and init in the provenance, and its config,
logs and learning curve copied to results/training/trained-NAME/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from bench import pipeline
from bench.data.utterance import DataError
from bench.errors import BenchError, report_error
from bench.metrics import DEFAULT_VARIANT
from bench.results import ORIGIN_TRAINED, ORIGIN_UPSTREAM, Measured, load_measured, measured_table, provenance_path
from bench.train.budget import BudgetError, TrainingBudget
from bench.train.config import CONFIG_FILE, PROFILES, ConfigError, TrainConfig
from bench.train.logs import SUMMARY, TIMING_LOG, TRAIN_LOG, VALIDATION_LOG
from imse.arguments import positive_integer
from imse.atomic import atomic_write_text, give_default_permissions
from imse.checkpoint import CheckpointError
from imse.registry import registry

COMPARISONS = (("imse-vb-3.399", "muse-vb"), ("trained-imse", "trained-muse"), ("imse-vb-3.399", "imse-vb-3.373"),
               ("imse-vb-3.399", "gtcrn-vb"))
DEFAULT_PROFILE = "smoke"
"""The main job's training profile: the one that fits its hour."""
DEFAULT_TRAINING = ("imse",)
"""What the main job trains: the flagship only, so that the job fits its hour on 2 cores. The four
block pairs' runs of the ablation table (`--train all`, `nox -s ablation`) cost another half hour."""
TRAINING_RECORDS = "training"
"""results/training/<system>/: config, logs and learning curve of each trained row's run."""


class Log:
    """What ran and what was skipped, printed as it goes and summarised at the end."""

    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.start = time.monotonic()

    def elapsed(self) -> str:
        """Time since the job started, h:mm:ss."""
        return str(datetime.timedelta(seconds=round(time.monotonic() - self.start)))

    def step(self, message: str) -> None:
        """Announce a step as it starts, with the time since the job started (where the hour goes)."""
        print(f"==> [{self.elapsed()}] {message}", file=sys.stderr, flush=True)

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


def _significance(results: Path) -> None:
    """results/significance.json: the paired comparisons of `_comparisons` on every test set that results/measured
    holds (not only this run's, so that evaluating one run never drops another test set's comparisons)."""
    from bench.compare import paired_comparison
    from bench.evaluate import to_json

    comparisons = []
    for dataset, system_a, system_b in _comparisons(load_measured(results)):
        comparison = paired_comparison(measured_table(results, dataset, system_a, DEFAULT_VARIANT),
                                       measured_table(results, dataset, system_b, DEFAULT_VARIANT))
        comparisons.append({"system_a": system_a, "system_b": system_b, "dataset": dataset, **comparison})
    atomic_write_text(results / "significance.json", to_json(comparisons))


def _comparisons(measured: list[Measured]) -> list[tuple[str, str, str]]:
    """(dataset, system_a, system_b) of COMPARISONS, and of each fine-tuned row against the bundle it started from
    (its provenance's `init`: what fine-tuning gained or cost), where both are scored with the default variant."""
    scored = {(entry.dataset, entry.system): entry for entry in measured if entry.variant == DEFAULT_VARIANT}
    pairs = []
    for dataset in sorted({dataset for dataset, _ in scored}):
        fine_tuned = [(system, entry.provenance["init"]) for (where, system), entry in sorted(scored.items())
                      if where == dataset and entry.origin == ORIGIN_TRAINED
                      and entry.provenance.get("init") in registry.bundle_names()]
        pairs += [(dataset, system_a, system_b) for system_a, system_b in (*COMPARISONS, *fine_tuned)
                  if (dataset, system_a) in scored and (dataset, system_b) in scored]
    return pairs


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


def evaluate_run(run_dir: Path, system: str, test_sets: list[pipeline.TestSet], results: Path, work: Path,
                 log: Log) -> None:
    """Evaluate a finished bench.train run's best checkpoint on every test set as `system`, its budget and
    config in the provenance, and keep its learning curve and logs under results/training/<system>/.

    Everything that can be refused is checked, and the curve drawn, before the first row is scored.
    """
    if not run_dir.is_dir():
        raise pipeline.PipelineError(f"{run_dir}: not a directory; give the --out directory of a bench.train run")
    from bench.train.loop import BEST  # the training loop's own name for the kept checkpoint

    best = run_dir / BEST
    if not best.is_file():
        raise pipeline.PipelineError(f"{best} is missing: the run kept no best checkpoint (unfinished, or no "
                                     f"finite validation PESQ); finish it with python -m bench.train --config "
                                     f"{run_dir / CONFIG_FILE} --resume --out {run_dir}")
    if not (run_dir / TRAIN_LOG).is_file():
        raise pipeline.PipelineError(f"{run_dir / TRAIN_LOG} is missing: the run has no learning curve to keep "
                                     "beside its rows; evaluate a run directory that bench.train wrote")
    config = TrainConfig.load(run_dir)
    _check_the_run_is_the_rows(run_dir, system, config)
    budget = TrainingBudget.from_run(run_dir)
    _keep_training_record(run_dir, results / TRAINING_RECORDS / system)
    print(f"{system}: {budget.label()}, {budget.step_minutes:g} min of steps", file=sys.stderr)
    for test_set in test_sets:
        log.step(f"evaluating {system} on {test_set.name}")
        pipeline.evaluate_weights(str(best), test_set, results, work, system, ORIGIN_TRAINED, seed=config.seed,
                                  profile=config.profile, training_data=config.data, init=config.init,
                                  run=str(run_dir.resolve()), budget=budget.as_record())


def _check_the_run_is_the_rows(run_dir: Path, system: str, config: TrainConfig) -> None:
    """Refuse a run whose rows would read as something it is not: unfinished, another model than the row's name
    says (tables show the name, not the model), or an architecture other than the registered model's."""
    summary = run_dir / SUMMARY
    if summary.is_file():
        recorded = json.loads(summary.read_text(encoding="utf-8"))
        if recorded.get("finished") is False:
            raise pipeline.PipelineError(
                f"{summary}: the run stopped at step {recorded.get('steps')} before its budget's end; finish it "
                f"with python -m bench.train --config {run_dir / CONFIG_FILE} --resume --out {run_dir}"
            )
    named = sorted((model for model in registry.model_names()
                    if system == f"trained-{model}" or system.startswith(f"trained-{model}-")), key=len)
    if not named or named[-1] != config.model:
        raise pipeline.PipelineError(
            f"--system {system}: names {named[-1] if named else 'no registered model'}, but {run_dir} trained "
            f"{config.model!r}; name its rows trained-{config.model} or trained-{config.model}-SOMETHING"
        )
    if config.model_overrides:
        raise pipeline.PipelineError(
            f"{run_dir / CONFIG_FILE}: overrides {config.model!r}'s architecture ({config.model_overrides}); its rows "
            f"would read as the registered model's. Score its enhanced audio with python -m bench.evaluate instead"
        )


def _keep_training_record(run_dir: Path, destination: Path) -> None:
    """The run's config, summary and logs, and its learning curve drawn from them, in a fresh folder that
    then replaces `destination` whole: the curve behind a trained row stays in results/ after the cache
    that trained it is gone, and no file of an earlier run under the same name is left beside it."""
    from bench import plots

    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    try:
        for name in (CONFIG_FILE, SUMMARY, TRAIN_LOG, VALIDATION_LOG, TIMING_LOG):
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, staging / name)
        try:
            plots.learning_curve(run_dir, output=staging)
        except (KeyError, ValueError) as error:
            raise pipeline.PipelineError(f"{run_dir / TRAIN_LOG}: its learning curve cannot be drawn ({error!r}); "
                                         "is it a bench.train log?") from error
        give_default_permissions(staging)
        retired = destination.with_name(f".{destination.name}.old")
        if destination.exists():
            os.replace(destination, retired)
        os.replace(staging, destination)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _train_and_evaluate(models: list[str], profile: str, seed: int, training_data: str,
                        test_sets: list[pipeline.TestSet], results: Path, work: Path, log: Log) -> None:
    """Train the models (or skip each, saying why; on the CPU one run per core at a time, see
    `pipeline.train_runs`), then evaluate each best checkpoint on every test set."""
    log.step(f"training {', '.join(models)} ({profile} profile, seed {seed}) on {training_data}")
    for model, best in pipeline.train_runs(models, profile, seed, training_data, work / "runs").items():
        if isinstance(best, pipeline.Skip):
            log.skip(str(best))
        else:
            evaluate_run(best.parent, trained_system(model, profile), test_sets, results, work, log)


def trained_system(model: str, profile: str) -> str:
    """The row name of a model trained by the main job: `trained-<model>` under its default profile, with the
    profile appended under any other, so that a `cpu` run never replaces the `smoke` rows."""
    return f"trained-{model}" if profile == DEFAULT_PROFILE else f"trained-{model}-{profile}"


def run(profile: str, data: str | None, results: Path, seed: int, models: list[str], skip_complexity: bool,
        training: Sequence[str] = DEFAULT_TRAINING) -> Log:
    """Every step of the main job into `results`: complexity of `models`, the bundles, `training` trained and
    evaluated; returns the log of what was skipped.

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
    _train_and_evaluate(list(training), profile, seed, training_data, test_sets, results, work, log)
    log.step("significance, tables and plots")
    _significance(results)
    write_tables_and_plots(results)
    log.step(f"the report page, {results / 'report'}")
    from bench.report import write_report

    write_report(results, results / "report", work=work)
    return log


def write_tables_and_plots(results: Path) -> None:
    """tables.csv (its footnotes in tables.footnotes.csv), tables.md and tables.tex under results/tables, and the
    plots under results/plots."""
    from bench import plots, tables

    for output_format, suffix in (("csv", "csv"), ("markdown", "md"), ("latex", "tex")):
        tables.write_tables(results, output_format, output=results / "tables" / f"tables.{suffix}")
    plots.write_plots(results, results / "plots")


SYSTEM_NAME = re.compile(r"trained-[a-z0-9][a-z0-9.-]*")
"""A trained row's name: one path component, never taken for the authors' weights or the noisy input."""


def _same_recipe(run_dir: Path, record: Path) -> bool:
    """Whether the run was trained from the same config as the committed row's (a retraining of that row)."""
    try:
        return TrainConfig.load(run_dir) == TrainConfig.load(record)
    except ConfigError:
        return False


def _evaluate_run_command(run_dir: Path, system: str, data: str | None, results: Path) -> int:
    if not SYSTEM_NAME.fullmatch(system):
        print(f"error: --system {system!r}: a trained row's name is 'trained-' then lower-case letters, digits, "
              "dots and dashes (e.g. trained-imse-cpu), so that it names one file and tables never take it for "
              "the authors' weights", file=sys.stderr)
        return 2
    existing = provenance_path(results, "vb-mini", system)
    if existing.is_file():
        recorded = json.loads(existing.read_text(encoding="utf-8")).get("run")
        if recorded != str(run_dir.resolve()) and not _same_recipe(run_dir, results / TRAINING_RECORDS / system):
            print(f"error: {existing} already holds {system} from run {recorded}, trained from another config.json; "
                  f"choose another --system, or delete that row's files under {results / 'measured'} to replace "
                  "it (a run of the same config, e.g. a retraining from the README, replaces it)", file=sys.stderr)
            return 2
    if not (results / "reported.csv").is_file():  # the tables written after the scoring need it
        print(f"error: {results / 'reported.csv'} not found: --results names the project's results folder (it holds "
              "the numbers reported in the papers)", file=sys.stderr)
        return 2
    log = Log()
    work = pipeline.work_dir()
    try:
        TrainConfig.load(run_dir)  # a wrong directory is refused before any test set is made
        test_sets = _test_sets(data, work, log)
        evaluate_run(run_dir, system, test_sets, results, work, log)
        _significance(results)
        write_tables_and_plots(results)
    except (BenchError, BudgetError, ConfigError, CheckpointError, DataError) as error:
        return report_error(error)
    print(f"\ndone: {system} in {results / 'measured'}; its curve in {results / TRAINING_RECORDS / system}",
          file=sys.stderr)
    if log.skipped:
        print("skipped:\n" + "\n".join(f"  - {line}" for line in log.skipped), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.reproduce`: parse, run every step, print what was skipped."""
    parser = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE)
    parser.add_argument("--data", help="a VoiceBank+DEMAND source for the full test set (and paper training)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--seed", type=int, default=pipeline.SEED)
    parser.add_argument("--model", nargs="+", action="extend",
                        help="models whose complexity to measure (default: all registered)")
    parser.add_argument("--train", nargs="+", action="extend", metavar="MODEL",
                        help=f"models to train and evaluate (default: {' '.join(DEFAULT_TRAINING)}); 'all': every "
                             "registered model, the ablation table's runs (nox -s ablation)")
    parser.add_argument("--skip-complexity", action="store_true")
    parser.add_argument("--threads", type=positive_integer, default=1,
                        help="torch threads for enhancement and training (default 1: see above); "
                             "latency is measured at 1 and all threads regardless")
    parser.add_argument("--evaluate-run", type=Path, metavar="RUN_DIR",
                        help="instead of the main job: evaluate this finished bench.train run on the test sets as "
                             "--system, keep its curve under results/training/, rewrite tables, plots and significance")
    parser.add_argument("--system", help="the row name for --evaluate-run (e.g. trained-imse-cpu)")
    arguments = parser.parse_args(argv)
    if (arguments.evaluate_run is None) != (arguments.system is None):
        parser.error("--evaluate-run and --system go together")
    models = arguments.model or registry.model_names()
    training = list(dict.fromkeys(arguments.train or DEFAULT_TRAINING))  # a model named twice is trained once
    if "all" in training:
        if len(training) > 1:
            parser.error("--train all already trains every registered model; give 'all' alone, or names")
        training = registry.model_names()
    unknown = [name for name in [*models, *training] if name not in registry.model_names()]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(registry.model_names())}")
    torch.set_num_threads(arguments.threads)
    if arguments.evaluate_run is not None:
        return _evaluate_run_command(arguments.evaluate_run, arguments.system, arguments.data, arguments.results)
    try:
        log = run(arguments.profile, arguments.data, arguments.results, arguments.seed, models,
                  arguments.skip_complexity, training)
    except BenchError as error:
        return report_error(error)
    print(f"\ndone in {log.elapsed()}; seed {arguments.seed}. Tables: {arguments.results / 'tables'}; plots: "
          f"{arguments.results / 'plots'}", file=sys.stderr)
    if log.skipped:
        print("skipped:\n" + "\n".join(f"  - {line}" for line in log.skipped), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
