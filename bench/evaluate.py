"""Score a directory of enhanced files against their clean references, one row per utterance.

    python -m bench.evaluate --clean-dir C --enhanced-dir E --output metrics.csv [--jobs N]
        [--variant loizou|upstream-float] [--shard K/N] [--strict] [--estoi] [--narrowband-pesq]
    python -m bench.evaluate merge SHARD.csv ... --output metrics.csv

Files are paired by stem. The table (see `bench.metrics.table`) and a summary JSON beside it
(metrics.csv -> metrics.summary.json) are written atomically; the table is also written
every few seconds while scoring, so an interrupted run resumes where it stopped: rows that
are already "ok" in an intact table are kept, the rest are scored. Scoring the raw noisy
input (the "Noisy" row) is the same command with the noisy directory as --enhanced-dir.

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

from bench.metrics import DEFAULT_VARIANT, FAILED, METRICS, OK, VARIANTS, score_pair  # noqa: E402
from bench.metrics.statistics import BOOTSTRAP, describe  # noqa: E402
from bench.metrics.table import (  # noqa: E402
    TableError,
    columns,
    failure_kind,
    make_row,
    read_table,
    score_columns,
    write_table,
)
from bench.provenance import package_versions  # noqa: E402
from imse.atomic import atomic_write_text  # noqa: E402
from imse.audio import AudioError, read_audio  # noqa: E402

SAMPLE_RATE = 16_000
CHECKPOINT_SECONDS = 10.0
VARIANT_DESCRIPTIONS = {
    "loizou": "WSS on the [-1, 1] scale, as Loizou's composite.m (equals CMGAN's int16 path)",
    "upstream-float": "WSS divided by 32768 twice, as the MP-SENet/MUSE/IMSE evaluation scripts (inflated)",
}
# Words in imse.audio's AudioError messages -> failure kind; first match wins.
_AUDIO_FAILURE_KINDS = (
    ("no such file", "missing-file"),
    ("channels", "multi-channel"),
    ("sample rate", "wrong-sample-rate"),
    ("cannot be read", "corrupt-file"),
    ("is empty", "empty-file"),
    ("NaN", "non-finite-samples"),
)


class EvaluationError(RuntimeError):
    """A run that cannot go on (bad arguments, --strict failure, inconsistent shards)."""


@dataclass(frozen=True)
class Pair:
    """One utterance: its clean and enhanced file, either possibly absent."""

    utterance: str
    clean: Path | None
    enhanced: Path | None


@dataclass(frozen=True)
class Shard:
    """Slice K of N (1-based): every N-th utterance of the sorted list, starting at the K-th."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--shard wants K/N, e.g. 2/4, got {text!r}") from None
        if not 1 <= index <= count:
            raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= K <= N")
        return cls(index, count)

    def select(self, items: list) -> list:
        return items[self.index - 1 :: self.count]


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


def pair_files(clean_dir: Path, enhanced_dir: Path) -> list[Pair]:
    """Pairs by stem over the union of both directories, sorted by utterance."""
    clean = _wav_files(clean_dir)
    enhanced = _wav_files(enhanced_dir)
    if not clean:
        raise EvaluationError(f"{clean_dir}: no .wav files")
    return [Pair(stem, clean.get(stem), enhanced.get(stem)) for stem in sorted(set(clean) | set(enhanced))]


def _failure(kind: str, message: str, variant: str) -> dict:
    return {"status": FAILED, "reason": f"{kind}: {message}", "variant": variant, "truncated_samples": 0}


def _audio_failure_kind(error: AudioError) -> str:
    text = str(error)
    return next((kind for words, kind in _AUDIO_FAILURE_KINDS if words in text), "audio-error")


def score_utterance(pair: Pair, variant: str, extended_stoi: bool, narrowband: bool) -> dict:
    """Score one pair from disk; every problem with the files becomes a failure, not an exception."""
    if pair.clean is None:
        return _failure("missing-pair", f"no clean file for enhanced {pair.enhanced}", variant)
    if pair.enhanced is None:
        return _failure("missing-pair", f"no enhanced file for clean {pair.clean}", variant)
    signals = []
    for path in (pair.clean, pair.enhanced):
        try:
            signals.append(read_audio(path, SAMPLE_RATE, allow_silent=True).samples)
        except AudioError as error:
            return _failure(_audio_failure_kind(error), str(error), variant)
    return score_pair(*signals, SAMPLE_RATE, variant, extended_stoi=extended_stoi, narrowband=narrowband)


def _score_task(task: tuple) -> tuple[str, dict]:
    pair, variant, extended_stoi, narrowband = task
    return pair.utterance, score_utterance(pair, variant, extended_stoi, narrowband)


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
    """The summary JSON: counts, failures by kind, and n/mean/std/CI per measure over ok rows only.

    Rows are taken in utterance order: the bootstrap resamples positions, so the order in
    which parallel workers finished must not change the interval.
    """
    rows = sorted(rows, key=lambda row: row["utterance"])
    ok = [row for row in rows if row["status"] == OK]
    failed = [row for row in rows if row["status"] != OK]
    metrics = {name: describe(np.array([row[name] for row in ok])) for name in score_columns(header)}
    return {
        "count": len(rows),
        "ok": len(ok),
        "failures": len(failed),
        "failures_by_kind": dict(sorted(Counter(failure_kind(row) for row in failed).items())),
        "failed_utterances": [row["utterance"] for row in failed],
        "truncated": sum(1 for row in rows if row["truncated_samples"] > 0),
        "metrics": metrics,
        "averaged_over": "utterances with status ok only; failed ones are never averaged in",
        "bootstrap": BOOTSTRAP,
        "variant": variant,
        "variant_description": VARIANT_DESCRIPTIONS[variant],
        "versions": package_versions(),
        **extra,
    }


def _command_line(argv: list[str]) -> str:
    return shlex.join([sys.executable, "-m", "bench.evaluate", *argv])


def _load_previous(output: Path, header: list[str], variant: str) -> list[dict]:
    """Ok rows of an intact earlier table at `output` to keep; [] if there is none or it is broken."""
    if not output.exists():
        return []
    try:
        rows, previous_header = read_table(output)
    except TableError as error:
        print(f"warning: {error}; scoring every utterance again", file=sys.stderr)
        return []
    if previous_header != header:
        raise EvaluationError(
            f"{output} has columns {previous_header}, this run writes {header}; "
            "use another --output or the same options"
        )
    variants = {row["variant"] for row in rows}
    if variants and variants != {variant}:
        raise EvaluationError(
            f"{output} was scored with variant {variants.pop()!r}, this run uses {variant!r}; "
            "use another --output or the same --variant"
        )
    return [row for row in rows if row["status"] == OK]


def evaluate(arguments: argparse.Namespace, argv: list[str]) -> dict:
    """Score (the shard of) a directory pair, resuming from an intact table; returns the summary."""
    output = Path(arguments.output)
    optional = tuple(
        name for name, wanted in (("estoi", arguments.estoi), ("pesq_nb", arguments.narrowband_pesq)) if wanted
    )
    header = columns(optional)
    pairs = pair_files(Path(arguments.clean_dir), Path(arguments.enhanced_dir))
    all_utterances = [pair.utterance for pair in pairs]
    if arguments.shard:
        pairs = arguments.shard.select(pairs)
    wanted = {pair.utterance for pair in pairs}
    if arguments.strict:
        for pair in pairs:
            if pair.clean is None or pair.enhanced is None:
                message = _failure_message(pair)
                raise EvaluationError(f"--strict: {message}")

    kept = [row for row in _load_previous(output, header, arguments.variant) if row["utterance"] in wanted]
    rows = {row["utterance"]: row for row in kept}
    todo = [pair for pair in pairs if pair.utterance not in rows]
    if kept:
        print(f"resuming: {len(kept)} utterances already scored in {output}, {len(todo)} to score", file=sys.stderr)

    tasks = [(pair, arguments.variant, arguments.estoi, arguments.narrowband_pesq) for pair in todo]
    started = last_write = time.monotonic()
    progress = tqdm(total=len(tasks), desc="scoring", unit="utt", disable=arguments.quiet or not tasks)
    try:
        for utterance, scores in _run(tasks, arguments.jobs):
            row = make_row(utterance, scores, header)
            rows[utterance] = row
            progress.update()
            if arguments.strict and row["status"] != OK:
                write_table(output, list(rows.values()), header)
                raise EvaluationError(f"--strict: {utterance}: {row['reason']}")
            if time.monotonic() - last_write > CHECKPOINT_SECONDS:
                write_table(output, list(rows.values()), header)
                last_write = time.monotonic()
    finally:
        progress.close()
    write_table(output, list(rows.values()), header)
    scoring_seconds = time.monotonic() - started

    shard = None
    if arguments.shard:
        shard = {
            "index": arguments.shard.index,
            "count": arguments.shard.count,
            "utterances_total": len(all_utterances),
            "utterances_sha256": utterance_list_digest(all_utterances),
        }
    summary = summarise(
        list(rows.values()),
        header,
        arguments.variant,
        {
            "clean_dir": str(arguments.clean_dir),
            "enhanced_dir": str(arguments.enhanced_dir),
            "sample_rate": SAMPLE_RATE,
            "shard": shard,
            "jobs": arguments.jobs,
            "scored_now": len(tasks),
            "scoring_seconds": round(scoring_seconds, 3),
            "command": _command_line(argv),
        },
    )
    atomic_write_text(summary_path(output), to_json(summary))
    return summary


def _failure_message(pair: Pair) -> str:
    if pair.clean is None:
        return f"{pair.utterance}: no clean file for enhanced {pair.enhanced}"
    return f"{pair.utterance}: no enhanced file for clean {pair.clean}"


def _run(tasks: list[tuple], jobs: int):
    """Yield (utterance, scores) as they finish, in this process (jobs 1) or in a process pool."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _score_task(task)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_score_task, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def merge(shard_paths: list[Path], output: Path, argv: list[str]) -> dict:
    """Join shard tables into one; refuse a missing or doubled shard or utterance."""
    if not shard_paths:
        raise EvaluationError("merge: no shard tables given")
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
    write_table(output, list(rows.values()), header)
    summary = summarise(
        list(rows.values()),
        header,
        variant,
        {"merged_from": [str(path) for path, _ in infos], "shard": None, "command": _command_line(argv)},
    )
    atomic_write_text(summary_path(output), to_json(summary))
    return summary


def _score_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.evaluate",
        description="Score enhanced files against clean ones (PESQ, CSIG, CBAK, COVL, segSNR, STOI). "
        "'python -m bench.evaluate merge --help' joins shards.",
    )
    parser.add_argument("--clean-dir", required=True, type=Path)
    parser.add_argument("--enhanced-dir", required=True, type=Path, help="enhanced (or noisy) .wav files")
    parser.add_argument("--output", required=True, type=Path, help="the per-utterance CSV")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=DEFAULT_VARIANT, help="composite variant")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--shard", type=Shard.parse, help="score slice K of N (1-based), e.g. 1/4")
    parser.add_argument("--strict", action="store_true", help="stop at the first failure")
    parser.add_argument("--estoi", action="store_true", help="add an extended STOI column")
    parser.add_argument("--narrowband-pesq", action="store_true", help="add a P.862 narrowband (8 kHz) column")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.evaluate merge", description="Join shard tables; refuse missing or doubled ones."
    )
    parser.add_argument("shards", nargs="+", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["merge"]:
            arguments = _merge_parser().parse_args(argv[1:])
            summary = merge(arguments.shards, arguments.output, argv)
            output = arguments.output
        else:
            arguments = _score_parser().parse_args(argv)
            if arguments.jobs < 1:
                raise EvaluationError("--jobs must be at least 1")
            summary = evaluate(arguments, argv)
            output = arguments.output
    except (EvaluationError, TableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    means = "  ".join(f"{name.upper()} {summary['metrics'][name]['mean']:.3f}" for name in METRICS)
    print(
        f"{output}: {summary['ok']} ok, {summary['failures']} failed, {summary['truncated']} truncated "
        f"[{summary['variant']}]  {means}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
