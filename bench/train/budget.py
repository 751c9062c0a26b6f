"""What a training run cost: profile, steps, crops, learning rate, data and minutes, read from its run directory.

Every trained row in `results/` carries this record in its provenance, so that a table never
puts a 100-step CPU run beside the authors' 100 epochs without saying so, and rows trained
under different budgets are never compared as if they were alike.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.train.config import CONFIG_FILE, TrainConfig
from bench.train.logs import SUMMARY, TIMING_LOG
from imse.frontend import SAMPLE_RATE


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


FIELD_CHECKS = {
    "profile": (lambda value: isinstance(value, str) and value != "", "a profile name"),
    "steps": (_count, "a whole number of steps, at least 1"),
    "batch_size": (_count, "a whole batch size, at least 1"),
    "crop_seconds": (lambda value: _seconds(value) and value > 0, "seconds above 0"),
    "learning_rate": (lambda value: value is None or (_seconds(value) and value > 0),
                      "the optimisers' starting learning rate, above 0, or null"),
    "data": (lambda value: isinstance(value, str) and value != "", "the training data's name"),
    "step_minutes": (_seconds, "minutes, 0 or more"),
    "best_step": (lambda value: value is None or (_count(value) or value == 0), "a step, or null"),
}
"""Every field of a recorded budget, with what a valid value is: a budget read from a file is checked."""


class BudgetError(ValueError):
    """A run directory whose budget cannot be read: no summary (never finished an invocation) or no timings."""


@dataclass(frozen=True)
class TrainingBudget:
    """The budget of one run; `key` is what two runs must share to be compared."""

    profile: str
    steps: int
    batch_size: int
    crop_seconds: float
    learning_rate: float | None
    """The optimisers' starting learning rate (a fine-tuning may start lower than its profile); None in a
    record written before it was recorded: such a run is compared with no run that records one."""
    data: str
    step_minutes: float
    """Wall time of the training steps (timing.csv), validation excluded: it depends on the machine."""
    best_step: int | None

    @classmethod
    def from_run(cls, run_dir: Path) -> TrainingBudget:
        """Read config.json, summary.json and timing.csv of `run_dir`."""
        config = TrainConfig.load(run_dir)
        summary_path, timing_path = run_dir / SUMMARY, run_dir / TIMING_LOG
        for path in (summary_path, timing_path):
            if not path.is_file():
                raise BudgetError(f"{path} is missing: the run never finished an invocation of bench.train; "
                                  f"resume it with python -m bench.train --config {run_dir / CONFIG_FILE} "
                                  f"--resume --out {run_dir}")
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            steps, best_step = int(summary["steps"]), summary["best_step"]
        except (ValueError, KeyError, TypeError) as error:
            raise BudgetError(f"{summary_path}: not a bench.train summary ({error!r})") from error
        try:
            with timing_path.open(newline="", encoding="utf-8") as handle:
                seconds = sum(float(row["seconds"]) for row in csv.DictReader(handle))
        except (ValueError, KeyError, TypeError) as error:
            raise BudgetError(f"{timing_path}: not a bench.train timing log ({error!r})") from error
        return cls(profile=config.profile, steps=steps, batch_size=config.batch_size,
                   crop_seconds=config.segment_size / SAMPLE_RATE,
                   learning_rate=config.optimiser.learning_rate, data=str(config.data),
                   step_minutes=round(seconds / 60, 1), best_step=best_step)

    @classmethod
    def from_record(cls, record: object) -> TrainingBudget:
        """The inverse of `as_record` (a provenance file's "budget"); BudgetError says what is wrong with it. A
        record without a learning rate (written before it was recorded) reads as learning rate None."""
        if not isinstance(record, dict):
            raise BudgetError(f"a budget is an object of {sorted(FIELD_CHECKS)}, not {type(record).__name__}")
        record = {"learning_rate": None, **record}
        missing, unknown = sorted(set(FIELD_CHECKS) - set(record)), sorted(set(record) - set(FIELD_CHECKS))
        if missing or unknown:
            raise BudgetError(f"a budget has exactly the keys {sorted(FIELD_CHECKS)}; missing {missing}, "
                              f"unknown {unknown}")
        for name, (valid, expected) in FIELD_CHECKS.items():
            if not valid(record[name]):
                raise BudgetError(f"budget {name} is {record[name]!r}; expected {expected}")
        return cls(**record)

    def as_record(self) -> dict:
        return asdict(self)

    @property
    def key(self) -> tuple:
        """What makes two budgets comparable: profile, steps, batch, crop, learning rate and data (minutes vary
        by machine)."""
        return (self.profile, self.steps, self.batch_size, self.crop_seconds, self.learning_rate, self.data)

    def label(self) -> str:
        """'smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini': what `key` says, for a table
        (minutes apart)."""
        crops = f"{self.batch_size} crops of {self.crop_seconds:.2f} s"
        rate = "learning rate not recorded" if self.learning_rate is None else f"learning rate {self.learning_rate:g}"
        return f"{self.profile}: {self.steps} steps x {crops}, {rate}, on {self.data}"
