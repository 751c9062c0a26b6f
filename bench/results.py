"""The layout of `results/`: where measured tables, their summaries and provenance live.

    results/reported.csv                                   numbers from the literature
    results/complexity.csv                                 bench.complexity
    results/measured/<dataset>/<system>.<variant>.csv      bench.evaluate, one row per utterance
    results/measured/<dataset>/<system>.<variant>.summary.json
    results/measured/<dataset>/<system>.provenance.json    where the system's output came from
    results/significance.json                              paired tests between systems

A system is `noisy` (the unprocessed input), a bundle name (`imse-vb-3.399`: the authors'
weights, evaluated by us) or `trained-<model>` (our own training run).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

ORIGIN_INPUT = "input"
ORIGIN_UPSTREAM = "upstream checkpoint"
ORIGIN_TRAINED = "our training run"
ORIGINS = (ORIGIN_INPUT, ORIGIN_UPSTREAM, ORIGIN_TRAINED)
"""Where a scored system's audio came from, in the order the tables list them."""
SAMPLE_UTTERANCES = 12
"""How many VoiceBank+DEMAND test pairs the `vbdmd-sample` dataset (../shared/vbdmd-sample) holds."""


@dataclass(frozen=True)
class Measured:
    """One evaluated system on one dataset with one composite variant."""

    dataset: str
    system: str
    variant: str
    table: Path
    summary: dict
    provenance: dict

    @property
    def origin(self) -> str:
        """One of ORIGINS, from the provenance file ("unknown" without one)."""
        return self.provenance.get("origin", "unknown")

    def sample(self) -> str:
        """Over how many utterances the means are: "12", or "6 of 12, 6 failed"."""
        ok, count, failures = self.summary["ok"], self.summary["count"], self.summary["failures"]
        return str(ok) if not failures and ok == count else f"{ok} of {count}, {failures} failed"

    def mean(self, metric: str) -> float | None:
        """The summary's mean of `metric`; None where it is absent or undefined."""
        value = self.summary["metrics"].get(metric, {}).get("mean")
        return None if value is None else float(value)


def measured_table(results: Path, dataset: str, system: str, variant: str) -> Path:
    """results/measured/<dataset>/<system>.<variant>.csv"""
    return results / "measured" / dataset / f"{system}.{variant}.csv"


def provenance_path(results: Path, dataset: str, system: str) -> Path:
    """results/measured/<dataset>/<system>.provenance.json"""
    return results / "measured" / dataset / f"{system}.provenance.json"


class ResultsError(BenchError):
    """A file under results/ that cannot be read as what it should be; the message names it and the problem."""


def read_json_object(path: Path) -> dict:
    """A JSON object from `path`; ResultsError naming the file when it is unreadable, truncated or not an object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot be read ({error})") from None
    except ValueError as error:
        raise ResultsError(f"{path}: not valid JSON, truncated? ({error})") from None
    if not isinstance(document, dict):
        raise ResultsError(f"{path}: not a JSON object")
    return document


def _number_or_null(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))


def summary_problem(summary: dict) -> str | None:
    """What makes a bench.evaluate summary unusable in a table (counts, metrics with means), or None."""
    metrics = summary.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return "no metrics"
    for name, statistics in metrics.items():
        if not isinstance(statistics, dict) or not _number_or_null(statistics.get("mean")):
            return f"metrics.{name} has no mean that is a number or null"
    counts = [summary.get(name) for name in ("count", "ok", "failures")]
    if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in counts):
        return "count, ok and failures must be whole numbers >= 0"
    if counts[1] + counts[2] != counts[0]:
        return f"ok {counts[1]} + failures {counts[2]} is not count {counts[0]}"
    return None


PROVENANCE_FIELDS = ("system", "origin", "dataset", "command", "versions")
"""What every provenance record says: which system, where its audio came from, on what data, made how."""


def provenance_problem(provenance: dict, system: str) -> str | None:
    """Why `provenance` is not a record of `system`'s origin, or None when it is."""
    missing = [name for name in PROVENANCE_FIELDS if name not in provenance]
    if missing:
        return f"it lacks {', '.join(missing)}"
    if provenance["system"] != system:
        return f"it is the record of {provenance['system']!r}"
    if provenance["origin"] not in ORIGINS:
        return f"origin {provenance['origin']!r} is none of {ORIGINS}"
    return None


def load_measured(results: Path) -> list[Measured]:
    """Every evaluated system under results/measured, with its summary and provenance.

    Raises ResultsError naming a summary or provenance file that is truncated or of the wrong shape.
    """
    for table in sorted((results / "measured").glob("*/*.csv")):
        summary_file = table.with_name(table.stem + ".summary.json")
        if not summary_file.is_file():
            raise ResultsError(f"{table}: its summary {summary_file.name} is missing, so its row would vanish "
                               "from every table; score it again (bench.evaluate writes both) or remove the table")
    found = []
    for summary_file in sorted((results / "measured").glob("*/*.summary.json")):
        dataset = summary_file.parent.name
        system, variant = summary_file.name.removesuffix(".summary.json").rsplit(".", 1)
        provenance_file = provenance_path(results, dataset, system)
        provenance = read_json_object(provenance_file) if provenance_file.exists() else {}
        problem = provenance_problem(provenance, system) if provenance_file.exists() else None
        if problem is not None:
            raise ResultsError(f"{provenance_file}: not a provenance record of {system!r}: {problem}")
        table = summary_file.with_name(f"{system}.{variant}.csv")
        if not table.is_file():
            raise ResultsError(f"{summary_file}: its per-utterance table {table.name} is missing; score it again")
        summary = read_json_object(summary_file)
        problem = summary_problem(summary)
        if problem is not None:
            raise ResultsError(f"{summary_file}: not a bench.evaluate summary: {problem}")
        found.append(
            Measured(dataset, system, variant, table, summary, provenance)
        )
    return found
