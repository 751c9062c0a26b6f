"""Each utterance's mixing conditions (SNR in dB, noise type) and their file, conditions.csv.

The data caches of `bench.data` write one beside their audio, `bench.pipeline` one beside an
exported test split, and `python -m bench.evaluate --conditions FILE` copies them into the
per-utterance table, where `python -m bench.tables --table breakdown` groups scores by them.
The file is CSV with the header id,snr_db,noise_type and one row per utterance.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import NamedTuple

from bench.errors import BenchError
from imse.atomic import atomic_write_text

CONDITIONS = "conditions.csv"
"""The file's name beside the audio it describes."""
HEADER = ("id", "snr_db", "noise_type")


class ConditionsError(BenchError, ValueError):
    """A conditions file that is missing, malformed or does not cover the utterances; the message names it."""


class Condition(NamedTuple):
    """How one noisy utterance was mixed: the speech-to-noise ratio in dB and the noise recording's type."""

    snr_db: float
    noise_type: str


def write_conditions(path: str | os.PathLike, conditions: dict[str, Condition]) -> None:
    """Write conditions.csv atomically, one row per utterance in id order."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(HEADER)
    for utterance_id in sorted(conditions):
        condition = conditions[utterance_id]
        writer.writerow([utterance_id, repr(float(condition.snr_db)), condition.noise_type])
    atomic_write_text(path, table.getvalue())


def read_conditions(path: str | os.PathLike) -> dict[str, Condition]:
    """id -> Condition of a conditions file; ConditionsError naming the file and row of any defect.

    Refused: a header other than id,snr_db,noise_type, a row with another number of fields,
    an empty or repeated id, an SNR that is not a finite number, an empty noise type.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is no part of the header
    except FileNotFoundError:
        raise ConditionsError(f"{path}: no such conditions file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConditionsError(f"{path}: cannot be read ({error})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise ConditionsError(f"{path}: empty; a conditions file starts with the header {','.join(HEADER)}")
        if tuple(header) != HEADER:
            raise ConditionsError(f"{path}: header {header} is not {','.join(HEADER)}; is it a conditions file?")
        conditions: dict[str, Condition] = {}
        first_line: dict[str, int] = {}
        for line, fields in enumerate(reader, start=2):
            conditions.update(_parse_row(path, line, fields, first_line))
    except csv.Error as error:
        raise ConditionsError(f"{path}: malformed CSV ({error})") from None
    return conditions


def _parse_row(path: Path, line: int, fields: list[str], first_line: dict[str, int]) -> dict[str, Condition]:
    """One row as {id: Condition}; records the id's line in `first_line` to name a repeat."""
    where = f"{path}:{line}"
    if len(fields) != len(HEADER):
        raise ConditionsError(f"{where}: {len(fields)} fields, expected {len(HEADER)} ({','.join(HEADER)})")
    utterance_id, snr_text, noise_type = (field.strip() for field in fields)
    if not utterance_id:
        raise ConditionsError(f"{where}: empty id")
    if utterance_id in first_line:
        raise ConditionsError(f"{where}: id {utterance_id} is named again (first on line {first_line[utterance_id]}); "
                              "each utterance has one condition")
    try:
        snr_db = float(snr_text)
    except ValueError:
        snr_db = math.nan
    if not math.isfinite(snr_db):
        raise ConditionsError(f"{where}: SNR {snr_text!r} of {utterance_id} is not a finite number of dB")
    if not noise_type:
        raise ConditionsError(f"{where}: {utterance_id} has no noise type")
    first_line[utterance_id] = line
    return {utterance_id: Condition(snr_db, noise_type)}


def conditions_of(path: str | os.PathLike, utterances: list[str]) -> dict[str, Condition]:
    """The conditions of `utterances` from the file at `path`; ConditionsError naming any it lacks.

    The file may describe more utterances than these (a whole corpus, when one shard is scored).
    """
    conditions = read_conditions(path)
    missing = sorted(set(utterances) - set(conditions))
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ConditionsError(f"{path}: no row for {len(missing)} utterance(s) being scored: "
                              f"{', '.join(missing[:5])}{more}; give the conditions file of this test set")
    return {utterance: conditions[utterance] for utterance in utterances}
