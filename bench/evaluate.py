"""Score a directory of enhanced files against their clean references, one row per utterance.

    python -m bench.evaluate --clean-dir C --enhanced-dir E --output metrics.csv [--jobs N]
        [--variant loizou|upstream-float] [--shard K/N] [--strict] [--narrowband-pesq] [--dnsmos]
        [--conditions conditions.csv]
    python -m bench.evaluate --enhanced-dir E --output metrics.csv    (reference-free: DNSMOS only)
    python -m bench.evaluate merge SHARD.csv ... --output metrics.csv

An intrusive run scores PESQ, CSIG, CBAK, COVL, segmental SNR, STOI, ESTOI and SI-SDR;
--dnsmos adds DNSMOS P.835 SIG/BAK/OVRL and P.808 (the `mos` extra). Without --clean-dir
the run is reference-free: only DNSMOS, which needs no clean signal, and the summary says
"reference_free": true. Every summary names the implementation and version of each measure
("implementations").

Files are paired by stem. The table (see `bench.metrics.table`) and a summary JSON beside it
(metrics.csv -> metrics.summary.json) are written atomically; the table is also written
every few seconds while scoring, so an interrupted run resumes where it stopped: rows that
are already "ok" in an intact table are kept, the rest are scored. Scoring the raw noisy
input (the "Noisy" row) is the same command with the noisy directory as --enhanced-dir.

A resume is keyed to what was scored: metrics.resume.json records both directories, every
file's size and mtime, the variant, the columns and the versions of the metric packages.
When any of it differs (or the record is absent) the table is scored again from scratch and
replaced, and a warning says what differed. An existing --output that is not a metrics table
of this tool (an audio file, a directory, someone's notes) is refused before any scoring.
A run in which no utterance is scored ok exits 1.

With --conditions (a `bench.conditions` file: id,snr_db,noise_type), every row also says
what its utterance was mixed at (snr_db, noise_type), for the breakdown table of
`bench.tables`; a file that lacks an utterance being scored, or is malformed, is refused.

A failed utterance (missing pair, unreadable or wrong-format file, PESQ or STOI failure) is
a row with NaN scores, status "failed" and its reason; it never enters a mean. --strict
stops at the first failure instead.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # Run as a program, parallelism is across processes; one BLAS/OpenMP thread each avoids
    # oversubscribing the cores. It must be set before numpy is first imported to take effect,
    # and only here: importing this module (in tests, say) leaves the environment alone.
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.conditions import Condition, conditions_of  # noqa: E402
from bench.errors import BenchError, report_error  # noqa: E402
from bench.metrics import (  # noqa: E402
    DEFAULT_VARIANT,
    FAILED,
    METRICS,
    OK,
    VARIANTS,
    MetricFailure,
    score_pair,
    wss_scale,
)
from bench.metrics import dnsmos as dnsmos_metric  # noqa: E402
from bench.metrics.implementations import implementations  # noqa: E402
from bench.metrics.statistics import BOOTSTRAP, describe  # noqa: E402
from bench.metrics.table import (  # noqa: E402
    TableError,
    columns,
    failure_kind,
    has_table_header,
    make_row,
    read_table,
    score_columns,
    write_table,
)
from bench.provenance import PACKAGES, package_versions  # noqa: E402
from bench.workers import die_with_parent  # noqa: E402
from imse.atomic import atomic_write_text  # noqa: E402
from imse.audio import AudioError, read_audio  # noqa: E402
from imse.checkpoint import sha256_of  # noqa: E402
from imse.frontend import SAMPLE_RATE  # noqa: E402

CHECKPOINT_SECONDS = 10.0
METRIC_PACKAGES = ("python", "imse-bench", "numpy", "scipy", "pesq", "pystoi", "soundfile", "soxr")
"""Packages whose version can move a score: a resume requires the same ones."""
VARIANT_DESCRIPTIONS = {
    "loizou": "WSS on the [-1, 1] scale, as Loizou's composite.m (equals CMGAN's int16 path)",
    "upstream-float": "WSS divided by 32768 twice, as the MP-SENet/MUSE/IMSE evaluation scripts (inflated)",
}


class EvaluationError(BenchError, RuntimeError):
    """A run that cannot go on (bad arguments, --strict failure, inconsistent shards)."""


@dataclass(frozen=True)
class Pair:
    """One utterance: its clean and enhanced file, either possibly absent."""

    utterance: str
    clean: Path | None
    enhanced: Path | None

    def missing(self, reference_free: bool = False) -> str | None:
        """Why the pair cannot be scored ("no clean file for ..."), or None if the files it needs exist.

        A reference-free run needs the enhanced file only.
        """
        if self.clean is None and not reference_free:
            return f"no clean file for enhanced {self.enhanced}"
        if self.enhanced is None:
            return f"no enhanced file for clean {self.clean}"
        return None


@dataclass(frozen=True)
class Shard:
    """Slice K of N (1-based): every N-th utterance of the sorted list, starting at the K-th."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """K/N from the command line; argparse reports the error."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--shard wants K/N, e.g. 2/4, got {text!r}") from None
        if not 1 <= index <= count:
            raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= K <= N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, items: list) -> list:
        """This shard's items of a sorted list."""
        return items[self.index - 1 :: self.count]


@dataclass(frozen=True)
class ScoringOptions:
    """What `evaluate` scores and how: the typed form of `python -m bench.evaluate`'s options.

    Without `clean_dir` the run is reference-free: DNSMOS only (`dnsmos` must be on).
    """

    clean_dir: Path | None
    enhanced_dir: Path
    output: Path
    variant: str = DEFAULT_VARIANT
    jobs: int = 1
    shard: Shard | None = None
    strict: bool = False
    dnsmos: bool = False
    narrowband_pesq: bool = False
    quiet: bool = False
    conditions: Path | None = None
    """A conditions file (`bench.conditions`): adds snr_db and noise_type to every row."""

    @property
    def reference_free(self) -> bool:
        """No clean directory: only measures that need no reference are scored."""
        return self.clean_dir is None

    @property
    def optional_measures(self) -> tuple[str, ...]:
        """The table columns after status and reason that these options ask for."""
        wanted = (("estoi", not self.reference_free), ("si_sdr", not self.reference_free),
                  ("pesq_nb", self.narrowband_pesq))
        chosen = tuple(name for name, on in wanted if on)
        return chosen + (dnsmos_metric.MEASURES if self.dnsmos else ())

    @property
    def metric_packages(self) -> tuple[str, ...]:
        """The packages whose version can move this run's scores: a resume requires the same ones."""
        return METRIC_PACKAGES + (dnsmos_metric.PACKAGES if self.dnsmos else ())

    def argv(self) -> list[str]:
        """The command line that asks for these options, recorded in the summary as the command."""
        words = [] if self.clean_dir is None else ["--clean-dir", str(self.clean_dir)]
        words += ["--enhanced-dir", str(self.enhanced_dir), "--output", str(self.output), "--variant", self.variant,
                  "--jobs", str(self.jobs)]
        if self.shard is not None:
            words += ["--shard", str(self.shard)]
        if self.conditions is not None:
            words += ["--conditions", str(self.conditions)]
        flags = (("--strict", self.strict), ("--dnsmos", self.dnsmos and not self.reference_free),
                 ("--narrowband-pesq", self.narrowband_pesq), ("--quiet", self.quiet))
        return words + [flag for flag, on in flags if on]


def _wav_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise EvaluationError(f"{directory}: no such directory")
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix.lower() == ".wav":
            if path.stem in files:
                raise EvaluationError(f"{directory}: two files share the stem {path.stem!r}")
            files[path.stem] = path
    return files


def pair_files(clean_dir: Path | None, enhanced_dir: Path) -> list[Pair]:
    """Pairs by stem over the union of both directories, sorted by utterance; enhanced files alone without clean_dir."""
    enhanced = _wav_files(enhanced_dir)
    if clean_dir is None:
        if not enhanced:
            raise EvaluationError(f"{enhanced_dir}: no .wav files")
        return [Pair(stem, None, path) for stem, path in sorted(enhanced.items())]
    clean = _wav_files(clean_dir)
    if not clean:
        raise EvaluationError(f"{clean_dir}: no .wav files")
    return [Pair(stem, clean.get(stem), enhanced.get(stem)) for stem in sorted(set(clean) | set(enhanced))]


def _failure(kind: str, message: str, variant: str) -> dict:
    return {"status": FAILED, "reason": f"{kind}: {message}", "variant": variant, "truncated_samples": 0}


def score_utterance(pair: Pair, options: ScoringOptions) -> dict:
    """Score one pair (or, reference-free, one file) from disk; every problem with the files becomes a failure."""
    variant = options.variant
    missing = pair.missing(options.reference_free)
    if missing is not None:
        return _failure("missing-pair", missing, variant)
    signals = []
    for path in (pair.clean, pair.enhanced):
        try:
            signals.append(None if path is None else read_audio(path, SAMPLE_RATE, allow_silent=True).samples)
        except AudioError as error:
            return _failure(error.kind, str(error), variant)
    clean, enhanced = signals
    if clean is None:
        result = {"status": OK, "reason": "", "failure_kinds": [], "variant": variant, "truncated_samples": 0}
    else:
        result = score_pair(clean, enhanced, SAMPLE_RATE, variant, extended_stoi=True,
                            narrowband=options.narrowband_pesq)
    if options.dnsmos:
        _add_dnsmos(result, enhanced, fails_row=clean is None)
    return result


def _add_dnsmos(result: dict, enhanced, fails_row: bool) -> None:
    """DNSMOS of the enhanced signal into `result`. A failure leaves the DNSMOS columns NaN and is appended
    to the reason; it fails the row only when DNSMOS is all the row has (`fails_row`, reference-free), so
    that asking for DNSMOS never drops an utterance's PESQ, STOI, ... from their means."""
    try:
        result.update(dnsmos_metric.dnsmos(enhanced, SAMPLE_RATE))
    except MetricFailure as failure:
        result.update(dict.fromkeys(dnsmos_metric.MEASURES, float("nan")),
                      reason="; ".join(part for part in (result["reason"], str(failure)) if part),
                      failure_kinds=[*result["failure_kinds"], failure.kind])
        if fails_row:
            result["status"] = FAILED


def _score_task(task: tuple[Pair, ScoringOptions]) -> tuple[str, dict]:
    pair, options = task
    return pair.utterance, score_utterance(pair, options)


def utterance_list_digest(utterances: list[str]) -> str:
    """SHA-256 of the sorted utterance list, so that merged shards can prove they cover it."""
    return hashlib.sha256("\n".join(sorted(utterances)).encode()).hexdigest()


def to_json(document: dict) -> str:
    """Strict JSON text: NaN (an undefined std or CI) becomes null."""

    def clean(value):
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [clean(item) for item in value]
        return value

    return json.dumps(clean(document), indent=2, allow_nan=False) + "\n"


def summary_path(output: Path) -> Path:
    """metrics.csv -> metrics.summary.json, beside it."""
    return output.with_name(output.stem + ".summary.json")


def summarise(rows: list[dict], header: list[str], variant: str, extra: dict) -> dict:
    """The summary JSON: counts, failures by kind, n/mean/std/CI per measure over ok rows only, and what
    computed each measure (implementation and version); reference-free when the table has no METRICS.

    Rows are taken in utterance order: the bootstrap resamples positions, so the order in
    which parallel workers finished must not change the interval.
    """
    rows = sorted(rows, key=lambda row: row["utterance"])
    ok = [row for row in rows if row["status"] == OK]
    failed = [row for row in rows if row["status"] != OK]
    measures = score_columns(header)
    metrics = {name: describe(np.array([row[name] for row in ok])) for name in measures}
    dnsmos_packages = dnsmos_metric.PACKAGES if set(dnsmos_metric.MEASURES) & set(measures) else ()
    return {
        "count": len(rows),
        "ok": len(ok),
        "failures": len(failed),
        "failures_by_kind": dict(sorted(Counter(failure_kind(row) for row in failed).items())),
        "failed_utterances": [row["utterance"] for row in failed],
        "truncated": sum(1 for row in rows if row["truncated_samples"] > 0),
        "metrics": metrics,
        "unscored_in_ok_rows": {name: len(ok) - value["n"] for name, value in metrics.items() if value["n"] < len(ok)},
        "implementations": implementations(measures),
        "reference_free": METRICS[0] not in header,
        "averaged_over": "utterances with status ok only; failed ones are never averaged in. A measure that "
                         "failed alone in an ok row (DNSMOS beside the intrusive suite) is NaN there, left out of "
                         "its own mean (its n) and counted in unscored_in_ok_rows",
        "bootstrap": BOOTSTRAP,
        "variant": variant,
        "variant_description": VARIANT_DESCRIPTIONS[variant],
        "versions": package_versions(PACKAGES + dnsmos_packages),
        **extra,
    }


def _command_line(argv: list[str]) -> str:
    return shlex.join([sys.executable, "-m", "bench.evaluate", *argv])


def resume_key_path(output: Path) -> Path:
    """metrics.csv -> metrics.resume.json: what the table beside it was scored from."""
    return output.with_name(output.stem + ".resume.json")


def is_json_with(path: Path, keys: set[str]) -> bool:
    """Whether `path` holds a JSON object with (at least) these keys."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and keys <= set(document)


def check_output(output: Path, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output whose writing would lose a file that is not this tool's, before any work.

    `output` and its summary and resume record may be absent or files this tool wrote; a
    directory, an input (`inputs`) or any other file there is refused, named.
    """
    output = Path(output)
    if output.is_dir():
        raise EvaluationError(f"--output {output} is a directory; name a file in it, e.g. {output / 'metrics.csv'}")
    if any(output.resolve() == Path(path).resolve() for path in inputs):
        raise EvaluationError(f"--output {output} is one of the shards being merged; name another file")
    if output.exists() and not has_table_header(output):
        raise EvaluationError(f"--output {output} exists and is not a metrics table of bench.evaluate; "
                              "refusing to replace it: name another file")
    if output.suffix.lower() != ".csv":
        # also keeps two tables from sharing companions: m.csv and m.tsv would both own m.summary.json
        raise EvaluationError(f"--output {output}: the table is CSV; give it a .csv name")
    for companion, keys in ((summary_path(output), {"metrics", "variant"}), (resume_key_path(output), {"tool"})):
        if companion.is_dir() or (companion.exists() and not is_json_with(companion, keys)):
            raise EvaluationError(f"{companion} (written beside --output {output}) exists and is not one that "
                                  "bench.evaluate wrote; refusing to replace it: move it or name another --output")


def _file_stamp(path: Path | None) -> list[int] | None:
    if path is None:
        return None
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def conditions_sha256(options: ScoringOptions) -> str | None:
    """SHA-256 of the conditions file's content (None without one): a resume requires the same conditions."""
    return None if options.conditions is None else sha256_of(options.conditions)


def resume_key(options: ScoringOptions, pairs: list[Pair], header: list[str]) -> dict:
    """What a table is scored from: directories, each file's size and mtime, variant, columns, metric versions,
    conditions."""
    versions = package_versions(options.metric_packages)
    return {
        "tool": "bench.evaluate",
        "clean_dir": None if options.reference_free else str(Path(options.clean_dir).resolve()),
        "enhanced_dir": str(Path(options.enhanced_dir).resolve()),
        "variant": options.variant,
        "conditions_sha256": conditions_sha256(options),
        "columns": header,
        "versions": {name: versions.get(name) for name in options.metric_packages},
        "files": {pair.utterance: [_file_stamp(pair.clean), _file_stamp(pair.enhanced)] for pair in pairs},
    }


def _key_difference(previous: dict, key: dict) -> str:
    """What differs between two resume keys, in words ("" when nothing does)."""
    differences = [f"{name} {previous.get(name)!r} -> {key[name]!r}" for name in key
                   if name not in ("files", "versions") and previous.get(name) != key[name]]
    old_versions = previous.get("versions") or {}
    differences += [f"{name} {old_versions.get(name)} -> {version}" for name, version in key["versions"].items()
                    if old_versions.get(name) != version]
    differences += [f"{name} {version} -> not used" for name, version in old_versions.items()
                    if name not in key["versions"]]
    old_files = previous.get("files") or {}
    changed = sorted(u for u in set(old_files) | set(key["files"]) if old_files.get(u) != key["files"].get(u))
    if changed:
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        differences.append(f"files added, removed or changed (size or mtime): {', '.join(changed[:5])}{more}")
    return "; ".join(differences)


def _load_previous(output: Path, key: dict) -> list[dict]:
    """Ok rows of an intact earlier table at `output` scored from the same inputs (`key`); else [] and a warning."""
    if not output.exists():
        return []
    record = resume_key_path(output)
    try:
        rows, _ = read_table(output)
        previous = json.loads(record.read_text(encoding="utf-8"))
    except TableError as error:
        return _start_over(f"{error}")
    except (OSError, ValueError):
        return _start_over(f"{output} has no record of the inputs it was scored from ({record} absent or unreadable)")
    difference = _key_difference(previous, key)
    if difference:
        return _start_over(f"{output} was scored from other inputs or options ({difference})")
    return [row for row in rows if row["status"] == OK]


def _start_over(why: str) -> list[dict]:
    print(f"warning: {why}; scoring every utterance again and replacing the table", file=sys.stderr)
    return []


def _check_options(options: ScoringOptions) -> None:
    """Refuse options no run can use, before any file is read."""
    if options.jobs < 1:
        raise EvaluationError("--jobs must be at least 1")
    try:
        wss_scale(options.variant)
    except ValueError as error:
        raise EvaluationError(str(error)) from None
    if options.reference_free and not options.dnsmos:
        raise EvaluationError("no clean directory and no DNSMOS: nothing to score; give --clean-dir or --dnsmos")
    if options.reference_free and options.narrowband_pesq:
        raise EvaluationError("--narrowband-pesq needs --clean-dir (PESQ compares with the clean signal)")
    if options.dnsmos:
        dnsmos_metric.speechmos_dnsmos()  # without the mos extra: refuse now, saying what to install


def _pairs_to_score(options: ScoringOptions) -> tuple[list[Pair], list[str]]:
    """The pairs of this run (its shard) and every utterance of the directories (for the shard record)."""
    pairs = pair_files(None if options.reference_free else Path(options.clean_dir), Path(options.enhanced_dir))
    all_utterances = [pair.utterance for pair in pairs]
    if options.shard:
        pairs = options.shard.select(pairs)
    if options.strict:
        for pair in pairs:
            missing = pair.missing(options.reference_free)
            if missing is not None:
                raise EvaluationError(f"--strict: {pair.utterance}: {missing}")
    return pairs, all_utterances


def _score_rows(options: ScoringOptions, todo: list[Pair], rows: dict[str, dict], header: list[str],
                conditions: dict[str, Condition]) -> None:
    """Score `todo` into `rows`, with their `conditions` if any; write the table every few seconds and at the end."""
    tasks = [(pair, options) for pair in todo]
    last_write = time.monotonic()
    progress = tqdm(total=len(tasks), desc="scoring", unit="utt", disable=options.quiet or not tasks)
    try:
        for utterance, scores in _run(tasks, options.jobs):
            row = make_row(utterance, scores, header, conditions.get(utterance))
            rows[utterance] = row
            progress.update()
            if options.strict and row["status"] != OK:
                write_table(options.output, list(rows.values()), header)
                raise EvaluationError(f"--strict: {utterance}: {row['reason']}")
            if time.monotonic() - last_write > CHECKPOINT_SECONDS:
                write_table(options.output, list(rows.values()), header)
                last_write = time.monotonic()
    finally:
        progress.close()
    write_table(options.output, list(rows.values()), header)


def _shard_record(shard: Shard | None, all_utterances: list[str]) -> dict | None:
    """The summary's "shard" entry: which slice, and of which utterance list."""
    if shard is None:
        return None
    return {
        "index": shard.index,
        "count": shard.count,
        "utterances_total": len(all_utterances),
        "utterances_sha256": utterance_list_digest(all_utterances),
    }


def evaluate(options: ScoringOptions, argv: list[str] | None = None) -> dict:
    """Score (the shard of) a directory pair, resuming from an intact table; returns the summary.

    Writes the table at `options.output` and its summary beside it. `argv` is the command line
    recorded in the summary (default: the one `options.argv()` gives). Raises EvaluationError
    or TableError when the run cannot go on.
    """
    _check_options(options)
    output = Path(options.output)
    check_output(output)
    header = columns(options.optional_measures, conditions=options.conditions is not None,
                     intrusive=not options.reference_free)
    pairs, all_utterances = _pairs_to_score(options)
    utterances = [pair.utterance for pair in pairs]
    conditions = {} if options.conditions is None else conditions_of(options.conditions, utterances)
    wanted = {pair.utterance for pair in pairs}
    key = resume_key(options, pairs, header)
    kept = [row for row in _load_previous(output, key) if row["utterance"] in wanted]
    # The table first, then its key: a run killed between the two never pairs old rows with a new key.
    write_table(output, kept, header)
    atomic_write_text(resume_key_path(output), json.dumps(key, indent=1) + "\n")
    rows = {row["utterance"]: row for row in kept}
    todo = [pair for pair in pairs if pair.utterance not in rows]
    if kept:
        print(f"resuming: {len(kept)} utterances already scored in {output}, {len(todo)} to score", file=sys.stderr)
    started = time.monotonic()
    _score_rows(options, todo, rows, header, conditions)
    scoring_seconds = time.monotonic() - started
    summary = summarise(
        list(rows.values()),
        header,
        options.variant,
        {
            "clean_dir": None if options.reference_free else str(options.clean_dir),
            "enhanced_dir": str(options.enhanced_dir),
            "sample_rate": SAMPLE_RATE,
            "shard": _shard_record(options.shard, all_utterances),
            "jobs": options.jobs,
            "scored_now": len(todo),
            "scoring_seconds": round(scoring_seconds, 3),
            "conditions": None if options.conditions is None else {
                "file": str(options.conditions), "sha256": key["conditions_sha256"]},
            "command": _command_line(options.argv() if argv is None else argv),
        },
    )
    atomic_write_text(summary_path(output), to_json(summary))
    return summary


def _run(tasks: list[tuple], jobs: int):
    """Yield (utterance, scores) as they finish, in this process (jobs 1) or in a process pool."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _score_task(task)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent) as pool:
        futures = [pool.submit(_score_task, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def merge(shard_paths: list[Path], output: Path, argv: list[str] | None = None) -> dict:
    """Join shard tables into one; refuse a missing or doubled shard or utterance; returns the summary.

    `argv` is the command line recorded in the summary (default: `merge SHARD ... --output OUTPUT`).
    """
    if argv is None:
        argv = ["merge", *map(str, shard_paths), "--output", str(output)]
    if not shard_paths:
        raise EvaluationError("merge: no shard tables given")
    check_output(output, tuple(shard_paths))
    rows: dict[str, dict] = {}
    header = None
    variant = None
    infos = []
    for path in shard_paths:
        shard_rows, shard_header = read_table(path)
        try:
            info = json.loads(summary_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise EvaluationError(f"merge: {summary_path(path)} (summary of {path}) is unreadable: {error}") from error
        if not info.get("shard"):
            raise EvaluationError(f"merge: {path} was not scored with --shard")
        if header is not None and shard_header != header:
            raise EvaluationError(f"merge: {path} has columns {shard_header}, others have {header}")
        if variant is not None and info["variant"] != variant:
            raise EvaluationError(f"merge: {path} used variant {info['variant']!r}, others {variant!r}")
        header, variant = shard_header, info["variant"]
        infos.append((path, info["shard"]))
        for row in shard_rows:
            if row["utterance"] in rows:
                raise EvaluationError(f"merge: utterance {row['utterance']} appears in more than one shard ({path})")
            rows[row["utterance"]] = row

    counts = {info["count"] for _, info in infos}
    digests = {info["utterances_sha256"] for _, info in infos}
    if len(counts) != 1 or len(digests) != 1:
        raise EvaluationError("merge: the shards come from different shardings or different file lists")
    count = counts.pop()
    indices = Counter(info["index"] for _, info in infos)
    doubled = sorted(index for index, seen in indices.items() if seen > 1)
    missing = sorted(set(range(1, count + 1)) - set(indices))
    if doubled:
        raise EvaluationError(f"merge: shard(s) {doubled} of {count} given more than once")
    if missing:
        raise EvaluationError(f"merge: shard(s) {missing} of {count} missing")
    total = infos[0][1]["utterances_total"]
    if len(rows) != total or utterance_list_digest(list(rows)) != digests.pop():
        raise EvaluationError(
            f"merge: the shards hold {len(rows)} utterances, the run had {total}; an incomplete shard?"
        )
    resume_key_path(output).unlink(missing_ok=True)  # a merged table is no run's to resume
    write_table(output, list(rows.values()), header)
    summary = summarise(
        list(rows.values()),
        header,
        variant,
        {"merged_from": [str(path) for path, _ in infos], "shard": None, "command": _command_line(argv)},
    )
    atomic_write_text(summary_path(output), to_json(summary))
    return summary


def parser() -> argparse.ArgumentParser:
    """Scoring options at the top level; `merge` as a subcommand."""
    scoring = argparse.ArgumentParser(
        prog="python -m bench.evaluate",
        description="Score enhanced files against clean ones (" + ", ".join(name.upper() for name in METRICS)
        + ", ESTOI, SI-SDR; DNSMOS with --dnsmos), or without clean ones (DNSMOS only). "
        "'python -m bench.evaluate merge --help' joins shards.",
    )
    scoring.add_argument("--clean-dir", type=Path, help=(
        "clean references; without it the run is reference-free and scores DNSMOS only (the mos extra)"))
    scoring.add_argument("--enhanced-dir", type=Path, help="enhanced (or noisy) .wav files; required to score")
    scoring.add_argument("--output", type=Path, help=(
        "the per-utterance CSV; required to score. An intact table of the same inputs and options is resumed; "
        "one scored from other inputs or options (see its .resume.json) is scored again from scratch and "
        "replaced, saying what differed; any other existing file is refused"))
    scoring.add_argument("--variant", choices=list(VARIANTS), default=DEFAULT_VARIANT, help="composite variant")
    scoring.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    scoring.add_argument("--shard", type=Shard.parse, help="score slice K of N (1-based), e.g. 1/4")
    scoring.add_argument("--strict", action="store_true", help="stop at the first failure")
    scoring.add_argument("--narrowband-pesq", action="store_true", help="add a P.862 narrowband (8 kHz) column")
    scoring.add_argument("--dnsmos", action="store_true", help=(
        f"add DNSMOS P.835 SIG/BAK/OVRL and P.808 columns (the mos extra: {dnsmos_metric.INSTALL})"))
    scoring.add_argument("--quiet", action="store_true", help="no progress bar")
    scoring.add_argument("--conditions", type=Path, help=(
        "a conditions.csv (id,snr_db,noise_type) naming every utterance scored: adds snr_db and noise_type "
        "columns, for python -m bench.tables --table breakdown"))
    commands = scoring.add_subparsers(dest="command", metavar="[merge]")
    merging = commands.add_parser("merge", help="join shard tables; refuse missing or doubled ones",
                                  description="Join shard tables; refuse missing or doubled ones.")
    merging.add_argument("shards", nargs="+", type=Path)
    merging.add_argument("--output", required=True, type=Path)
    return scoring


def _scoring_options(command_line: argparse.ArgumentParser, arguments: argparse.Namespace) -> ScoringOptions:
    """The typed options of a scoring command line; a missing directory or output is a usage error.

    Without --clean-dir DNSMOS is on: it is the one measure a reference-free run can score.
    """
    missing = [flag for flag, value in (("--enhanced-dir", arguments.enhanced_dir), ("--output", arguments.output))
               if value is None]
    if missing:
        command_line.error("the following arguments are required: " + ", ".join(missing))
    return ScoringOptions(
        arguments.clean_dir, arguments.enhanced_dir, arguments.output, arguments.variant, arguments.jobs,
        arguments.shard, arguments.strict, arguments.dnsmos or arguments.clean_dir is None,
        arguments.narrowband_pesq, arguments.quiet, arguments.conditions,
    )


def closing_line(output: Path, summary: dict) -> str:
    """One line on a finished table: counts, variant and the mean of each measure."""
    means = "  ".join(f"{name.upper()} {statistics['mean']:.3f}" for name, statistics in summary["metrics"].items())
    return (f"{output}: {summary['ok']} ok, {summary['failures']} failed, {summary['truncated']} truncated "
            f"[{summary['variant']}]  {means}")


def no_ok_message(output: Path, summary: dict) -> str | None:
    """Why a finished table holds no number (no utterance scored ok), or None when it holds some."""
    if summary["ok"]:
        return None
    if not summary["count"]:
        return "no utterance was scored ok: this run had no utterance to score (an empty --shard?)"
    kinds = ", ".join(f"{kind} {count}" for kind, count in summary["failures_by_kind"].items())
    return f"no utterance was scored ok: {summary['failures']} failed ({kinds}); see the reason column of {output}"


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.evaluate`: parse, score or merge, print the closing line; 2 on an error, 1 if nothing ok."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = parser()
    arguments = command_line.parse_args(argv)
    try:
        if arguments.command == "merge":
            summary = merge(arguments.shards, arguments.output, argv)
        else:
            summary = evaluate(_scoring_options(command_line, arguments), argv)
    except BenchError as error:
        return report_error(error)
    print(closing_line(arguments.output, summary), file=sys.stderr)
    message = no_ok_message(arguments.output, summary)
    if message is not None:
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
