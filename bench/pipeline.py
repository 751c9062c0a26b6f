"""Steps that `bench.reproduce` and `bench.regress` string together: export a test split,
enhance it with some weights, score it, record where the numbers came from.

Each step writes files with a manifest or a content key, so a killed run resumes: enhanced
audio lives under a directory named by the weights' SHA-256 and the mode, and files already
there are not enhanced again; `bench.evaluate` resumes its own tables.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from bench.conditions import CONDITIONS, Condition, write_conditions
from bench.cpu_kernels import instruction_set
from bench.errors import BenchError
from bench.metrics import DEFAULT_VARIANT, VARIANTS
from bench.provenance import command_line, package_versions, running_revision
from bench.results import ORIGIN_INPUT, ORIGIN_UPSTREAM, SAMPLE_UTTERANCES, measured_table, provenance_path
from bench.workers import die_with_parent, usable_cores
from imse.atomic import atomic_write_text
from imse.audio import write_audio
from imse.enhance import enhance_files, find_inputs
from imse.frontend import SAMPLE_RATE
from imse.loading import LoadedModel, load_model

if TYPE_CHECKING:
    import pandas

SEED = 1234
"""The seed of bench.reproduce's training runs and of bench.regress's trained baseline."""
REPORTED_SYSTEMS = {"imse-vb-3.399": "IMSE", "imse-vb-3.373": "IMSE (v1)", "muse-vb": "MUSE", "noisy": "Noisy"}


SHARED_VARIABLE = "IMSE_BENCH_SHARED"
"""Where ../shared (checkpoints, the VoiceBank+DEMAND sample) is; .ci/run sets it."""


def work_dir() -> Path:
    """The reproduce folder of the project cache (bench.data.cache): audio and runs, not results."""
    from bench.data.cache import cache_root

    return cache_root() / "reproduce"


@dataclass(frozen=True)
class TestSet:
    """A directory pair ready to enhance and score, and how it was made; `conditions` is its
    conditions file (`bench.conditions`) where the data knows each utterance's SNR and noise type."""

    name: str
    clean: Path
    noisy: Path
    description: str
    conditions: Path | None = None


def sample_test_set(shared: Path) -> TestSet:
    """The 12 real VoiceBank+DEMAND test pairs in ../shared."""
    root = shared / "vbdmd-sample"
    description = (f"{SAMPLE_UTTERANCES} VoiceBank+DEMAND test pairs ({SAMPLE_RATE // 1000} kHz copies from CMGAN), "
                   "../shared/vbdmd-sample")
    return TestSet("vbdmd-sample", root / "clean", root / "noisy", description)


def export_test_split(data: str, name: str, work: Path) -> TestSet:
    """Write a source's test split as clean/ and noisy/ WAV directories, once (manifest last), and
    conditions.csv beside them when the source knows every utterance's SNR and noise type.

    A manifest from before conditions were exported (no "conditions" entry) is redone.
    """
    from bench.data import TEST, open_source

    target = work / "data" / name
    manifest = target / "manifest.json"
    source = open_source(data)
    if not manifest.exists() or "conditions" not in json.loads(manifest.read_text(encoding="utf-8")):
        conditions: dict[str, Condition] = {}
        count = 0
        for utterance in source.utterances(TEST):
            write_audio(target / "clean" / f"{utterance.id}.wav", utterance.clean, SAMPLE_RATE, "FLOAT")
            write_audio(target / "noisy" / f"{utterance.id}.wav", utterance.noisy, SAMPLE_RATE, "FLOAT")
            if utterance.snr_db is not None and utterance.noise_type is not None:
                conditions[utterance.id] = Condition(utterance.snr_db, utterance.noise_type)
            count += 1
        if conditions and len(conditions) != count:
            raise PipelineError(f"{source.location}: {count - len(conditions)} of {count} test utterances have no "
                                "SNR and noise type; the conditions file of the data is incomplete, restore it")
        if conditions:
            write_conditions(target / CONDITIONS, conditions)
        record = {"data": data, "source": source.name, "utterances": count, "conditions": bool(conditions)}
        atomic_write_text(manifest, json.dumps(record) + "\n")
    known = json.loads(manifest.read_text(encoding="utf-8"))["conditions"]
    return TestSet(name, target / "clean", target / "noisy", f"test split of {data!r} ({source.name})",
                   target / CONDITIONS if known else None)


def code_fingerprint() -> str:
    """SHA-256 of the model code (imse/ and baselines/): cached audio is reused only by the same code."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted([*root.glob("imse/**/*.py"), *root.glob("baselines/**/*.py")]):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def enhanced_directory(work: Path, dataset: str, sha256: str, mode: str, threads: int) -> Path:
    """work/enhanced/<dataset>/<weights>-<code>-<mode>-threads<N>: where enhanced files of these weights live."""
    return work / "enhanced" / dataset / f"{sha256[:16]}-{code_fingerprint()[:16]}-{mode}-threads{threads}"


def enhance_test_set(loaded: LoadedModel, test_set: TestSet, work: Path, mode: str = "segmented",
                     jobs: int | None = None) -> Path:
    """Enhanced files of `test_set` by `loaded`, in a directory keyed by the weights, the code, the mode
    and the torch thread count (which changes the float rounding).

    The files are shared among `jobs` worker processes (default: as many as this process's CPU
    affinity holds at its torch thread count), each running `loaded.model` itself on that same
    thread count: a file's output depends only on the file, the network and the threads, so the
    audio is bit-identical to a one-process run.
    """
    threads = torch.get_num_threads()
    output = enhanced_directory(work, test_set.name, loaded.sha256, mode, threads)
    inputs = find_inputs([test_set.noisy])
    todo = [path for path in inputs if not (output / f"{path.stem}.wav").exists()]
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    jobs = min(len(todo), jobs or max(1, usable_cores() // threads))
    if jobs > 1:
        failures = _enhance_in_workers(loaded, todo, output, mode, threads, jobs)
    elif todo:
        failures = enhance_files(todo, loaded.model, output, mode, subtype="FLOAT").failures
    else:
        failures = []
    if failures:
        raise PipelineError("enhancement failed for: " + "; ".join(message for _, message in failures))
    return output


_worker_model: torch.nn.Module | None = None
"""The network an enhancement worker process was handed by its parent."""


def _start_worker(threads: int) -> None:
    """Pool initializer: die with the parent, and compute on its thread count (the bits depend on it)."""
    die_with_parent()
    torch.set_num_threads(threads)


def _start_enhancement_worker(threads: int, model: torch.nn.Module) -> None:
    """Pool initializer: `_start_worker`, with the parent's very network (the module itself, pickled:
    whatever the parent built or changed in memory is what the workers run)."""
    global _worker_model
    _start_worker(threads)
    _worker_model = model


def _enhance_one(path: Path, output: Path, mode: str) -> list[tuple[Path, str]]:
    """One file in a worker; its failures."""
    return enhance_files([path], _worker_model, output, mode, subtype="FLOAT", progress=False).failures


def _frames(path: Path) -> int:
    """The file's length in frames, or 0 where its header cannot be read (enhancing it reports why)."""
    try:
        return soundfile.info(str(path)).frames
    except (RuntimeError, OSError):
        return 0


def _enhance_in_workers(loaded: LoadedModel, files: list[Path], output: Path, mode: str, threads: int,
                        jobs: int) -> list[tuple[Path, str]]:
    """`files` enhanced by `jobs` spawned processes (fork is unsafe after torch's thread pool started).

    A worker that dies (killed, out of memory) or raises is a failure of the file it held; the
    files already written stay, and a rerun enhances only the rest.
    """
    failures: list[tuple[Path, str]] = []
    longest_first = sorted(files, key=_frames, reverse=True)  # no worker is left with a long file at the end
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_enhancement_worker,
        initargs=(threads, loaded.model),
    ) as pool:
        futures = {pool.submit(_enhance_one, path, output, mode): path for path in longest_first}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="enhancing",
                           unit="file"):
            try:
                failures.extend(future.result())
            except BrokenProcessPool as error:
                failures.append((futures[future], f"{futures[future]}: an enhancement worker process died ({error});"
                                 " was it killed, or out of memory? Run again: written files are kept"))
            except Exception as error:  # any error of a worker is a failure of this file, named
                failures.append((futures[future], f"{futures[future]}: {type(error).__name__}: {error}"))
    return sorted(failures)


def score(test_set: TestSet, enhanced: Path, results: Path, system: str, variant: str, scratch: Path,
          jobs: int = 2) -> Path:
    """Score with bench.evaluate, then publish to results/measured/<test set>/<system>.<variant>.csv.

    Scoring happens in `scratch`, a directory keyed like the enhanced audio (by weights and
    code), where it resumes safely; only complete tables and summaries reach results/. DNSMOS
    (the `mos` extra) is scored with the default variant only: it does not depend on the
    composite variant, and it costs more than the rest of the suite.
    """
    from bench.evaluate import ScoringOptions, evaluate, summary_path

    scratch = scratch / f"{variant}.csv"
    evaluate(ScoringOptions(test_set.clean, enhanced, scratch, variant, jobs, quiet=True,
                            conditions=test_set.conditions, dnsmos=variant == DEFAULT_VARIANT))
    output = measured_table(results, test_set.name, system, variant)
    for source, target in ((scratch, output), (summary_path(scratch), summary_path(output))):
        atomic_write_text(target, source.read_text())
    return output


def record_provenance(results: Path, test_set: TestSet, system: str, origin: str, **details) -> None:
    """Write <system>.provenance.json: what produced the audio that was scored, and with what."""
    document = {
        "system": system, "origin": origin, "dataset": test_set.name, "data": test_set.description,
        "reported_system": REPORTED_SYSTEMS.get(system, details.pop("reported_system", "")),
        "command": command_line(), "revision": running_revision(), "versions": package_versions(),
        "torch_threads": torch.get_num_threads(),
        "cpu_instruction_set": instruction_set(), **details,
    }
    atomic_write_text(provenance_path(results, test_set.name, system), json.dumps(document, indent=2) + "\n")


def evaluate_weights(checkpoint: str, test_set: TestSet, results: Path, work: Path, system: str, origin: str,
                     **details) -> None:
    """Load weights (bundle or file), enhance the test set, score both variants, record provenance."""
    loaded = load_model(checkpoint, trust_unknown=origin != ORIGIN_UPSTREAM)
    enhanced = enhance_test_set(loaded, test_set, work)
    for variant in VARIANTS:
        score(test_set, enhanced, results, system, variant, enhanced.with_name(enhanced.name + "-scores"))
    record_provenance(results, test_set, system, origin, model=loaded.model_name, weights=str(loaded.path),
                      sha256=loaded.sha256, bundle=loaded.bundle.name if loaded.bundle else None,
                      mode="segmented", **details)


def evaluate_noisy(test_set: TestSet, results: Path, work: Path) -> None:
    """The Noisy row: the unprocessed input scored as if it were enhanced."""
    for variant in VARIANTS:
        score(test_set, test_set.noisy, results, "noisy", variant, work / "enhanced" / test_set.name / "noisy-scores")
    record_provenance(results, test_set, "noisy", ORIGIN_INPUT, model=None)


def per_utterance_improvements(results: Path, dataset: str, system: str, metric: str = "pesq") -> pandas.Series:
    """metric(system) - metric(noisy) by utterance id, over utterances scored ok for both."""
    import pandas

    enhanced = pandas.read_csv(measured_table(results, dataset, system, DEFAULT_VARIANT)).set_index("utterance")
    noisy = pandas.read_csv(measured_table(results, dataset, "noisy", DEFAULT_VARIANT)).set_index("utterance")
    both = enhanced.merge(noisy, left_index=True, right_index=True, how="inner", suffixes=("_system", "_noisy"))
    both = both[(both["status_system"] == "ok") & (both["status_noisy"] == "ok")]
    return both[f"{metric}_system"] - both[f"{metric}_noisy"]


def per_utterance_improvement(results: Path, dataset: str, system: str, metric: str = "pesq") -> np.ndarray:
    """per_utterance_improvements as an array."""
    return per_utterance_improvements(results, dataset, system, metric).to_numpy()


class PipelineError(BenchError, RuntimeError):
    """A step that failed (enhancement of some files, say); the message says which."""


class Skip(BenchError):
    """A step that cannot run here, with the reason to print."""


TRAINING_CODE = ("imse", "baselines", "bench/train", "bench/data", "bench/metrics")
"""The packages whose code decides a trained run's weights (models, recipe, data, PESQ targets)."""

PACKAGES_ROOT = Path(__file__).resolve().parent.parent
"""Where imse/, baselines/ and bench/ are: this checkout, or the installed packages."""


def training_code_fingerprint(root: Path = PACKAGES_ROOT) -> str:
    """12 hex digits of the SHA-256 of TRAINING_CODE's Python files under `root`, paths and contents, sorted.

    Every .py file counts, tracked or not (an untracked one may be imported), except hidden ones (an
    editor's lock or backup files) and what is not a regular file. A missing package is an error."""
    digest = hashlib.sha256()
    for package in TRAINING_CODE:
        if not (root / package).is_dir():
            raise PipelineError(f"{root / package}: not found; the training code's fingerprint needs {TRAINING_CODE}")
        for path in sorted((root / package).rglob("*.py")):
            if path.name.startswith(".") or not path.is_file():
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def train_run(model: str, profile: str, seed: int, data: str, runs: Path, progress: bool = True) -> Path:
    """Train (or resume) one model with bench.train on this process's torch threads; returns the best checkpoint.

    The run directory is keyed by the thread count (a run resumed on other threads would not end
    where an uninterrupted one does) and by `training_code_fingerprint`: a run made by other code
    is never taken for this code's, nor resumed by it; it is left where it is. Raises what
    `bench.train.loop.train` raises.
    """
    from bench.train.__main__ import paper_epoch_range
    from bench.train.config import profile_config
    from bench.train.loop import RunOptions, recipe_refusal, train

    refusal = recipe_refusal(model)
    if refusal:
        raise Skip(f"training {model}: {refusal}")
    if profile == "paper" and not torch.cuda.is_available():
        raise Skip(f"training {model} at the paper profile: it needs a GPU ({paper_epoch_range()} epochs); "
                   "none is present")
    run = runs / f"{model}-{profile}-seed{seed}-threads{torch.get_num_threads()}-code{training_code_fingerprint()}"
    config = profile_config(profile, model, data, seed=seed)
    print(f"{model}: " + train(config, RunOptions(run_dir=run, resume=(run / "config.json").exists(),
                                                   progress=progress)).report(), flush=True)
    best = run / "best.pt"
    if not best.exists():
        raise Skip(f"evaluating trained {model}: the run kept no best checkpoint (no finite validation PESQ)")
    return best


def _train_or_skip(model: str, profile: str, seed: int, data: str, runs: Path, progress: bool = False) -> Path | Skip:
    """One run; a Skip is returned, as the answer it is, rather than raised (it crosses a worker's pipe)."""
    try:
        return train_run(model, profile, seed, data, runs, progress)
    except Skip as reason:
        return reason


def train_runs(models: list[str], profile: str, seed: int, data: str, runs: Path,
               jobs: int | None = None) -> dict[str, Path | Skip]:
    """`train_run` for every model, `jobs` runs at a time; each model's best checkpoint, or the Skip saying why not.

    On the CPU the runs share the cores (default: one run per `usable_cores() // threads`), each
    in a spawned process on this process's thread count, so every run ends on the same bits as
    it would alone: the models are independent and a seeded run depends only on its own thread
    count. On a GPU (or with jobs=1) they run here, one after another, with their progress bars.
    Every run is waited for before the first failure is raised, so that a rerun resumes them all.
    """
    threads = torch.get_num_threads()
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if len(set(models)) != len(models):
        raise ValueError(f"models {models}: each model once (two runs of one model would share its run directory)")
    if jobs is None:
        jobs = 1 if torch.cuda.is_available() else max(1, usable_cores() // threads)
    jobs = min(jobs, len(models))
    if jobs <= 1:
        return {model: _train_or_skip(model, profile, seed, data, runs, progress=True) for model in models}
    print(f"training {', '.join(models)}: {jobs} runs at a time, {threads} thread(s) each", flush=True)
    answers, errors = {}, []
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(threads,),
    ) as pool:
        futures = {pool.submit(_train_or_skip, model, profile, seed, data, runs): model for model in models}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="training runs",
                           unit="run"):
            model = futures[future]
            try:
                answers[model] = future.result()
            except BrokenProcessPool as error:
                errors.append(PipelineError(f"training {model}: its worker process died ({error}); was it killed, "
                                            "or out of memory? Run again: every run resumes from its last checkpoint"))
            except Exception as error:  # raised once every other run has finished
                errors.append(error)
    for error in errors[1:]:
        print(f"error: {error}", file=sys.stderr, flush=True)
    if errors:
        raise errors[0]
    return {model: answers[model] for model in models}
