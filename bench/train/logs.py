"""The run's logs: CSV files of every loss term and validation measure, and TensorBoard if installed.

`train_log.csv` and `validation_log.csv` hold only what the seed determines, so two runs
with the same seed write identical files; wall-clock timings go to `timing.csv`. On
resume each file is cut back to the checkpoint's step first, so rows written after the
checkpoint by a killed run are not repeated.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from imse.atomic import atomic_write_text

TRAIN_LOG = "train_log.csv"
VALIDATION_LOG = "validation_log.csv"
TIMING_LOG = "timing.csv"
SUMMARY = "summary.json"
"""What a run did, rewritten at the end of every invocation of bench.train."""


def _format(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


class CsvLog:
    """Append rows with a fixed header; flushed after every row so a killed run keeps its log."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns

    def truncate_after(self, step: int) -> None:
        """Keep the header and the rows up to and including `step`. A last line without its newline is a row
        torn by a kill mid-write (rows are written whole, then flushed): it is dropped, being past the
        checkpoint the run resumes from."""
        if not self.path.is_file():
            return
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        rows = [row for row in csv.DictReader(io.StringIO(text, newline="")) if int(row["step"]) <= step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buffer.getvalue())

    def write(self, row: dict) -> None:
        new = not self.path.is_file()
        with open(self.path, "a", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, self.columns, lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerow({key: _format(row.get(key, "")) for key in self.columns})
            stream.flush()
            os.fsync(stream.fileno())


class TensorBoard:
    """A SummaryWriter when the tensorboard package is installed; otherwise nothing."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
        else:
            self.writer = SummaryWriter(str(log_dir))

    @property
    def available(self) -> bool:
        return self.writer is not None

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
