"""The per-utterance results table: its columns, its CSV form, and the check that a file is intact.

One row per utterance: utterance, pesq, csig, cbak, covl, ssnr, stoi (the intrusive suite;
absent from a reference-free table), status, reason, then the further measures the run
scored (estoi and si_sdr in every intrusive run since they became default, pesq_nb, the
DNSMOS columns), then variant and truncated_samples, then, when the run was given the
utterances' conditions (`bench.conditions`), snr_db and noise_type: what the utterance was
mixed at, never averaged. A table written before estoi and si_sdr were default lacks them
and still reads. Scores are rounded to 6 decimals when a row is made, so a table read back
summarises exactly as the one that was written. NaN is written as "nan".

This table is for programs (resume, merge, compare, regress): utterance names are written
verbatim, even one starting with =, +, - or @, so that it round-trips. It is not neutralised
for spreadsheets; `python -m bench.tables --format csv` is the export for people, and quotes
such cells there.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path

from bench.conditions import Condition
from bench.errors import BenchError
from bench.metrics import FAILED, METRICS, OK
from bench.metrics.dnsmos import MEASURES as DNSMOS_MEASURES
from imse.atomic import atomic_write_text

OPTIONAL_METRICS = ("estoi", "si_sdr", "pesq_nb", *DNSMOS_MEASURES)
"""Measures after status and reason, in this order, present when the run scored them."""
CONDITION_COLUMNS = ("snr_db", "noise_type")
"""How each utterance was mixed (`bench.conditions`): columns of a table scored with conditions, never scores."""
DECIMALS = 6
_KIND = re.compile(r"^([a-z0-9-]+): ")


class TableError(BenchError, ValueError):
    """A results file that is missing, malformed or does not fit the run; the message names it."""


def columns(optional: tuple[str, ...] = (), conditions: bool = False, intrusive: bool = True) -> list[str]:
    """The header of a table with the given optional measures, the condition columns if asked, and without
    `intrusive` no METRICS columns (a reference-free table)."""
    unknown = set(optional) - set(OPTIONAL_METRICS)
    if unknown:
        raise ValueError(f"unknown optional measures {sorted(unknown)}")
    extra = [name for name in OPTIONAL_METRICS if name in optional]
    described = list(CONDITION_COLUMNS) if conditions else []
    suite = METRICS if intrusive else ()
    return ["utterance", *suite, "status", "reason", *extra, "variant", "truncated_samples", *described]


def has_conditions(header: list[str]) -> bool:
    """Whether a table's header has the condition columns (snr_db, noise_type)."""
    return set(CONDITION_COLUMNS) <= set(header)


def _expected_header(header: list[str]) -> list[str]:
    """The header a table with `header`'s measures and condition columns must have (a reference-free one has
    no METRICS)."""
    return columns(tuple(name for name in header if name in OPTIONAL_METRICS), has_conditions(header),
                   intrusive=METRICS[0] in header)


def _required(scores: list[str], row: dict) -> list[str]:
    """The scores an ok row must hold: all, except DNSMOS beside the intrusive suite when its reason names a
    DNSMOS failure (that measure failed alone; the row's others still count)."""
    if METRICS[0] in scores and "dnsmos-" in row["reason"]:
        return [name for name in scores if name not in DNSMOS_MEASURES]
    return scores


def score_columns(header: list[str]) -> list[str]:
    """The numeric score columns of a header, in order."""
    return [name for name in header if name in METRICS or name in OPTIONAL_METRICS]


def make_row(utterance: str, scores: dict, header: list[str], condition: Condition | None = None) -> dict:
    """A table row from `score_pair`'s result (or a failure dict with the same keys).

    `condition` fills snr_db and noise_type; a header with those columns requires it.
    """
    row = {"utterance": utterance}
    for name in score_columns(header):
        value = float(scores.get(name, math.nan))
        row[name] = round(value, DECIMALS) if math.isfinite(value) else math.nan
    row["status"] = scores["status"]
    row["reason"] = scores.get("reason", "")
    row["variant"] = scores["variant"]
    row["truncated_samples"] = int(scores.get("truncated_samples", 0))
    if has_conditions(header):
        if condition is None:
            raise ValueError(f"{utterance}: the table has condition columns but no condition was given")
        row["snr_db"], row["noise_type"] = float(condition.snr_db), condition.noise_type
    return row


def failure_kind(row: dict) -> str:
    """The first failure kind named in a row's reason ("unknown" if it names none)."""
    match = _KIND.match(row.get("reason", ""))
    return match.group(1) if match else "unknown"


def _format(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{DECIMALS}f}"
    return str(value)


def to_csv(rows: list[dict], header: list[str]) -> str:
    """CSV text of rows, sorted by utterance so that the order never depends on scheduling."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for row in sorted(rows, key=lambda row: row["utterance"]):
        writer.writerow([_format(row[name]) for name in header])
    return stream.getvalue()


def write_table(path: str | os.PathLike, rows: list[dict], header: list[str]) -> None:
    """Write the table atomically (a killed run leaves the previous file, never half of one)."""
    atomic_write_text(path, to_csv(rows, header))


def has_table_header(path: str | os.PathLike) -> bool:
    """Whether the file's first line is the header of a metrics table (a torn table still has one)."""
    try:
        with open(path, "rb") as stream:
            first = stream.readline(4096).decode("utf-8")
        header = next(csv.reader([first]))
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration):
        return False
    return header == _expected_header(header)


def read_table(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """Rows and header of an intact table; TableError naming the file and the line otherwise.

    Intact means: a known header, every row with all fields, a unique non-empty utterance,
    numbers that parse, a known status, finite scores in every "ok" row and, in a table with
    condition columns, a finite SNR and a noise type in every row.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TableError(f"{path}: cannot be read ({error})") from error
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise TableError(f"{path}: empty or not CSV") from None
    if header != _expected_header(header):
        raise TableError(f"{path}: header {header} is not a metrics table header {_expected_header(header)}")
    scores = score_columns(header)
    conditions = has_conditions(header)
    rows: list[dict] = []
    seen: set[str] = set()
    try:
        for line, fields in enumerate(reader, start=2):
            if len(fields) != len(header):
                raise TableError(f"{path}:{line}: {len(fields)} fields, expected {len(header)} (truncated file?)")
            row = dict(zip(header, fields, strict=True))
            if not row["utterance"] or row["utterance"] in seen:
                raise TableError(f"{path}:{line}: empty or repeated utterance {row['utterance']!r}")
            seen.add(row["utterance"])
            try:
                for name in scores:
                    row[name] = float(row[name])
                row["truncated_samples"] = int(row["truncated_samples"])
                if conditions:
                    row["snr_db"] = float(row["snr_db"])
            except ValueError as error:
                raise TableError(f"{path}:{line}: not a number ({error})") from None
            if row["status"] not in (OK, FAILED):
                raise TableError(f"{path}:{line}: unknown status {row['status']!r}")
            if row["status"] == OK and not all(math.isfinite(row[name]) for name in _required(scores, row)):
                raise TableError(f"{path}:{line}: status ok but a score is NaN")
            if conditions and not (math.isfinite(row["snr_db"]) and row["noise_type"]):
                raise TableError(f"{path}:{line}: condition columns without a finite SNR and a noise type")
            rows.append(row)
    except csv.Error as error:
        raise TableError(f"{path}: malformed CSV ({error})") from error
    variants = {row["variant"] for row in rows}
    if len(variants) > 1:
        raise TableError(f"{path}: mixes composite variants {sorted(variants)}")
    return rows, header
