"""The paper's comparison tables from `results/`, as CSV, Markdown or LaTeX.

    python -m bench.tables --format latex|csv|markdown [--table NAME] [--output FILE] [--results DIR]

Tables: `main` (reported and measured rows side by side, with deltas), `training` (our own
training runs, each with its budget and its gain over the noisy input), `ablation` (the four
block pairs, trained under one shared budget), `complexity`, `scaling` (MACs by block type and
latency against input length), `metric-variants` (`loizou` against `upstream-float` scoring),
`significance` (paired tests) and `breakdown` (each system per SNR and per noise type, from
tables scored with conditions).
LaTeX output is a standalone document (booktabs; the best value of each column in bold, among
the rows scored on the same data only, and not in the breakdown, whose best is only the easiest
condition; a footnote for every reported/measured distinction, its letter on the cell or header
it explains, or on the caption when it explains the whole table); pass `--fragment` for the
table environments alone. A missing value is an empty cell in every format. Deltas against a
reported number are only taken on the data it was reported on. Every measured row has n, the
utterances its means are over ("6 of 12, 6 failed" when some failed). CSV output written to
FILE.csv has its footnotes in FILE.footnotes.csv (table, footnote, explains, text). In CSV output a text cell
that starts with =, +, -, @, tab or CR (a system named after a file, say) gets a leading ' so
that a spreadsheet shows it rather than running it; numbers are left as they are. A results
file that is truncated or of the wrong shape is named, with its problem (exit 2).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas

from bench.complexity import GPU_REPEATS, LATENCY_SECONDS, MEMORY_PROBES, ONE_SECOND
from bench.errors import BenchError, report_error
from bench.metrics import DEFAULT_VARIANT, METRICS, OK, VARIANTS
from bench.metrics.statistics import BOOTSTRAP_RESAMPLES, MIN_SAMPLE, describe
from bench.metrics.table import CONDITION_COLUMNS, has_conditions, read_table
from bench.results import ORIGIN_INPUT, ORIGIN_TRAINED, ORIGINS, SAMPLE_UTTERANCES, Measured, load_measured
from bench.train.budget import BudgetError, TrainingBudget
from imse.atomic import atomic_write_text
from imse.frontend import SAMPLE_RATE, SEGMENT_SIZE, STFTConfig

FORMATS = ("latex", "csv", "markdown")
METRIC_LABELS = {"pesq": "PESQ", "csig": "CSIG", "cbak": "CBAK", "covl": "COVL", "ssnr": "SSNR", "stoi": "STOI"}
TABLES = ("main", "training", "ablation", "complexity", "scaling", "metric-variants", "significance",
          "breakdown")
MEASURED_FILES = {"complexity": "complexity.csv", "scaling": "complexity_scaling.csv"}
"""Tables that need a file of `bench.complexity`; left out, with a note, when it is absent."""
ABLATION_MODELS = ("imse", "imse-de", "imse-taylor", "muse")
MEASURE_LABELS = {**METRIC_LABELS, "estoi": "ESTOI", "si_sdr": "SI-SDR", "pesq_nb": "PESQ NB",
                  "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK", "dnsmos_ovrl": "DNSMOS OVRL",
                  "dnsmos_p808": "DNSMOS P.808"}
"""Every per-utterance measure of bench.evaluate, as the tables name it (significance.json may hold any)."""
NEWER_LABELS = {name: MEASURE_LABELS[name] for name in ("si_sdr", "dnsmos_ovrl")}
"""Measures of the main table's measured rows, where their summaries have them (the papers report neither)."""
HIGHER_IS_BETTER = {*MEASURE_LABELS.values()}
LOWER_IS_BETTER = {"Params (M)", "Params", "Params, paper convention", "GMACs / 1 s", "GMACs / segment",
                   "Peak memory (MiB)", "GPU forward, segment (ms)", "ONNX file (MB)"}
"""Besides these, every "RTF ..." column of the complexity table."""
DATA_COLUMN = "Data"
"""Rows are only compared (best value, deltas) with rows of the same value here."""
REPORTED_DATASET = "vbdmd-test"
"""The data every reported.csv number is on: the full VoiceBank+DEMAND test set."""
RTF_COLUMN = re.compile(r"^(?:(onnxruntime)_)?(segmented|full)_(\d+)thread_rtf$")
"""complexity.csv's real-time factors, one per backend (torch unnamed), inference mode and thread count."""


class TablesError(BenchError):
    """Tables that cannot be made from this results directory (no reported.csv, say)."""


class Table:
    """A frame plus a caption and footnotes; `anchors` maps a header, or the start of a text cell, to the
    index of the footnote it points to. A footnote no anchor points to explains the whole table: the caption
    points to it. `highlight` False: no best value is marked (rows are conditions, not rivals)."""

    def __init__(self, name: str, frame: pandas.DataFrame, caption: str, footnotes: list[str],
                 anchors: dict[str, int] | None = None, highlight: bool = True) -> None:
        self.name = name
        self.frame = frame
        self.caption = caption
        self.footnotes = footnotes
        self.highlight = highlight
        self.anchors = anchors or {}


def annotated(name: str, frame: pandas.DataFrame, caption: str, notes: list[tuple[str, tuple[str, ...]]]) -> Table:
    """A Table from (footnote, the headers or cell starts it explains) pairs; a note for an absent header is
    left out, so that no footnote explains nothing."""
    present = [(text, labels) for text, labels in notes if not labels or _anchored_anywhere(frame, labels)]
    anchors = {label: index for index, (_, labels) in enumerate(present) for label in labels}
    return Table(name, frame, caption, [text for text, _ in present], anchors)


def _anchored_anywhere(frame: pandas.DataFrame, labels: tuple[str, ...]) -> bool:
    texts = {value for column in frame.columns for value in frame[column] if isinstance(value, str)}
    return any(label in frame.columns or any(text.startswith(label) for text in texts) for label in labels)


def footnote_mark(index: int) -> str:
    """The letter of footnote `index`: a, b, ..."""
    return chr(ord("a") + index)


@dataclass(frozen=True)
class Cell:
    """One cell as every format shows it: its text ("" for a missing value), footnote letters, best or not."""

    text: str
    marks: tuple[str, ...] = ()
    best: bool = False


def caption_marks(table: Table) -> tuple[str, ...]:
    """The letters of the footnotes that explain the whole table (no header or cell points to them)."""
    anchored = set(table.anchors.values())
    return tuple(footnote_mark(i) for i in range(len(table.footnotes)) if i not in anchored)


def best_cells(table: Table) -> pandas.DataFrame:
    """True where a cell holds the best value of its column among the rows on the same data (DATA_COLUMN),
    for columns where higher or lower is better; a value alone on its data is not marked."""
    frame = table.frame
    best = pandas.DataFrame(False, index=frame.index, columns=frame.columns)
    if not table.highlight:
        return best
    groups = frame[DATA_COLUMN] if DATA_COLUMN in frame.columns else pandas.Series(0, index=frame.index)
    for column in frame.columns:
        if not pandas.api.types.is_numeric_dtype(frame[column]) or pandas.api.types.is_bool_dtype(frame[column]):
            continue
        higher = column in HIGHER_IS_BETTER
        if not (higher or column in LOWER_IS_BETTER or column.startswith("RTF ")):
            continue
        for _, values in frame[column].groupby(groups, sort=False):
            values = values.dropna()
            if len(values) > 1:
                target = values.max() if higher else values.min()
                best.loc[values.index[values == target], column] = True
    return best


def numeric_columns(table: Table) -> list[bool]:
    """Per column, whether it holds numbers (right-aligned in every format)."""
    return [pandas.api.types.is_numeric_dtype(table.frame[column]) for column in table.frame.columns]


def missing_inputs(results: Path, names: Sequence[str]) -> dict[str, Path]:
    """The tables of `names` whose bench.complexity file is absent, with that file."""
    return {name: results / MEASURED_FILES[name] for name in names
            if name in MEASURED_FILES and not (results / MEASURED_FILES[name]).exists()}


def layout(table: Table) -> tuple[list[Cell], list[list[Cell]]]:
    """The header and the rows as text cells: numbers at their column's precision, missing values empty,
    footnote letters from `table.anchors`, the best values (best_cells) marked."""
    frame, best = table.frame, best_cells(table)
    mark = {label: footnote_mark(index) for label, index in table.anchors.items()}
    header = [Cell(str(column), tuple(m for label, m in mark.items() if label == column)) for column in frame.columns]
    rows = []
    for position, (_, record) in enumerate(frame.iterrows()):
        row = []
        for column in frame.columns:
            value = record[column]
            if value is None or (not isinstance(value, str) and pandas.isna(value)):
                row.append(Cell(""))
            elif isinstance(value, str):
                row.append(Cell(value, tuple(m for label, m in mark.items()
                                             if label not in frame.columns and value.startswith(label))))
            else:
                text = _precision(column).format(value) if pandas.api.types.is_number(value) else str(value)
                row.append(Cell(text, best=bool(best.iloc[position][column])))
        rows.append(row)
    return header, rows


@functools.cache
def test_set_size() -> int:
    """The VoiceBank+DEMAND test set's utterance count (bench.data is imported only when a table needs it)."""
    from bench.data.utterance import FULL_CORPUS_COUNTS, TEST

    return FULL_CORPUS_COUNTS[TEST]


def _dataset_label(dataset: str) -> str:
    """How a dataset is named in a table, with its utterance count where it is fixed."""
    labels = {
        "vbdmd-sample": f"VB+DEMAND sample ({SAMPLE_UTTERANCES})",
        "vbdmd-test": f"VB+DEMAND test ({test_set_size()})",
        "vb-mini": "VB-mini test",
    }
    return labels.get(dataset, dataset)


def _one_second() -> str:
    """'16,300 samples = 164 frames': what the complexity tables call 1 s."""
    return f"{ONE_SECOND:,} samples = {STFTConfig().frames(ONE_SECOND)} frames"


def read_frame(path: Path, required: Sequence[str], numeric: Sequence[str] = ()) -> pandas.DataFrame:
    """A CSV file with the `required` columns, `numeric` ones numbers; TablesError naming the file otherwise."""
    try:
        frame = pandas.read_csv(path)
    except FileNotFoundError:
        raise TablesError(f"{path}: no such file") from None
    except pandas.errors.EmptyDataError:
        raise TablesError(f"{path}: empty, no header") from None
    except (OSError, UnicodeDecodeError, pandas.errors.ParserError) as error:
        raise TablesError(f"{path}: not a readable CSV ({error})") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise TablesError(f"{path}: missing column(s) {missing}; it has {list(frame.columns)}")
    _require_numeric(path, frame, numeric)
    return frame


def _require_numeric(path: Path, frame: pandas.DataFrame, numeric: Sequence[str]) -> None:
    wrong = [column for column in numeric if not pandas.api.types.is_numeric_dtype(frame[column])]
    if wrong:
        raise TablesError(f"{path}: column(s) {wrong} not numeric")


REPORTED_COMPLEXITY = ("reported_params", "reported_macs_per_second")
"""Optional numeric columns of reported.csv: complexity as a paper states it (its source in complexity_source)."""


def _reported(results: Path) -> pandas.DataFrame:
    """reported.csv; the REPORTED_COMPLEXITY columns, where present, must be numbers too."""
    path = results / "reported.csv"
    frame = read_frame(path, ["system", "params_m", *METRICS], ["params_m", *METRICS])
    _require_numeric(path, frame, [column for column in REPORTED_COMPLEXITY if column in frame.columns])
    return frame


def _reported_complexity_note(results: Path) -> str | None:
    """A footnote with every reported parameter and MAC count of reported.csv, or None without any."""
    reported = _reported(results)
    if not set(REPORTED_COMPLEXITY) <= set(reported.columns):
        return None
    stated = reported.dropna(subset=list(REPORTED_COMPLEXITY), how="all")
    parts = []
    for record in stated.itertuples(index=False):
        figures = [f"{record.reported_params:,.0f} parameters" if pandas.notna(record.reported_params) else "",
                   f"{record.reported_macs_per_second / 1e6:g} MMACs/s"
                   if pandas.notna(record.reported_macs_per_second) else ""]
        source = getattr(record, "complexity_source", None)
        parts.append(f"{record.system}: " + ", ".join(f for f in figures if f)
                     + (f" ({source})" if isinstance(source, str) and source else ""))
    return "Reported by the authors: " + "; ".join(parts) + "." if parts else None


def _parameters(results: Path) -> dict[str, float]:
    if not (results / MEASURED_FILES["complexity"]).exists():
        return {}
    frame = _complexity_frame(results)
    return dict(zip(frame["model"], frame["parameters"] / 1e6, strict=True))


def main_table(results: Path, variant: str = DEFAULT_VARIANT) -> Table:
    """Reported rows, then measured rows per dataset (n: the ok utterances the means are over), with deltas."""
    reported = _reported(results)
    rows = []
    for record in reported.itertuples(index=False):
        rows.append({"System": record.system, "Origin": "reported", "Data": _dataset_label("vbdmd-test"), "n": "",
                     "Params (M)": record.params_m,
                     **{METRIC_LABELS[m]: getattr(record, m) for m in METRICS}})
    by_system = {record.system: record for record in reported.itertuples(index=False)}
    parameters = _parameters(results)
    for measured in _measured(results, variant):
        if measured.origin == ORIGIN_TRAINED:
            continue  # the training table has them, with their budgets
        reported_row = by_system.get(measured.provenance.get("reported_system", ""))
        row = {"System": measured.system, "Origin": f"measured ({measured.origin})",
               "Data": _dataset_label(measured.dataset), "n": measured.sample(),
               "Params (M)": parameters.get(measured.provenance.get("model")),
               **{METRIC_LABELS[m]: measured.mean(m) for m in METRICS},
               **{label: measured.mean(m) for m, label in NEWER_LABELS.items() if measured.mean(m) is not None}}
        like_with_like = measured.dataset == REPORTED_DATASET  # the data the reported number is on
        if like_with_like and reported_row is not None and pandas.notna(reported_row.pesq) and measured.mean("pesq"):
            row["Delta PESQ"] = measured.mean("pesq") - reported_row.pesq
        rows.append(row)
    notes = [
        ("reported: as published (see results/reported.csv for each source), on the full "
         f"{test_set_size()}-utterance test set.", ("reported",)),
        (f"measured: scored by this harness with the `{variant}` composite variant on the data named in the row; "
         "noisy is the unprocessed input. Best values are bold among rows on the same data only. Our own "
         "training runs are not here: the training table shows each with its budget.", ("measured",)),
        ("Published CSIG/CBAK/COVL of MP-SENet, MUSE and IMSE used the doubly scaled WSS (`upstream-float`) "
         "and are about 0.08 higher than `loizou` scoring; see the metric-variants table.", ("CSIG", "CBAK", "COVL")),
        ("Delta PESQ: measured minus reported for the same weights, on the full test set only (the data the "
         f"reported number is on); a sample of {SAMPLE_UTTERANCES} utterances is not the test set.", ("Delta PESQ",)),
        ("n: the utterances scored ok, over which every measured mean is taken; failed ones are counted, never "
         "averaged in.", ("n",)),
    ]
    notes.append(("SI-SDR (dB, Le Roux 2019) and DNSMOS OVRL (P.835 model of the DNS Challenge) are measured only; "
                  "the papers report neither. Each summary names every measure's implementation and version; a row "
                  "scored before they existed leaves them empty.", tuple(NEWER_LABELS.values())))
    return annotated("main", pandas.DataFrame(rows), "Reported and measured results on VoiceBank+DEMAND", notes)


def _measured(results: Path, variant: str) -> list[Measured]:
    """Measured systems of one variant, by dataset, then origin (input, upstream, ours), then name."""
    order = {origin: index for index, origin in enumerate(ORIGINS)}
    found = [m for m in load_measured(results) if m.variant == variant]
    return sorted(found, key=lambda m: (m.dataset, order.get(m.origin, len(ORIGINS)), m.system))


def _budget(measured: Measured) -> TrainingBudget | None:
    """The training budget in a trained row's provenance; None where it was scored before budgets were recorded.
    Raises TablesError, naming the file, for a budget that is there but malformed."""
    if measured.provenance.get("budget") is None:
        return None
    try:
        return TrainingBudget.from_record(measured.provenance["budget"])
    except BudgetError as error:
        path = measured.table.with_name(f"{measured.system}.provenance.json")
        raise TablesError(f"{path}: {error}; re-run nox -s reproduce to record it again") from error


def _noisy_rows(results: Path, variant: str) -> dict[str, tuple[Measured, list[dict]]]:
    """Per dataset, the noisy input and its per-utterance rows: what a gain over noisy is paired with."""
    return {m.dataset: (m, read_table(m.table)[0]) for m in _measured(results, variant) if m.origin == ORIGIN_INPUT}


def _against_noisy(measured: Measured, noisy: dict[str, tuple[Measured, list[dict]]]) -> dict:
    """`_means_and_gains` over all of a system's utterances, paired with noisy's on the same conditions (refused
    otherwise); "n paired" counts the utterances its gains are over (empty without a noisy row)."""
    rows, header = read_table(measured.table)
    noisy_ok = {}
    if measured.dataset in noisy:
        noisy_measured, noisy_rows = noisy[measured.dataset]
        if has_conditions(header):
            _check_same_conditions(measured, rows, noisy_measured, noisy_rows)
        noisy_ok = {row["utterance"]: row for row in noisy_rows if row["status"] == OK}
    paired = sum(row["status"] == OK and row["utterance"] in noisy_ok for row in rows)
    return {**_means_and_gains(measured, rows, noisy_ok), "n paired": paired if noisy_ok else None}


def _gain_notes(records: list[dict], noisy: dict) -> list[str]:
    """What the gains are, and which data has no noisy row to take them against."""
    notes = ["Delta PESQ, Delta STOI: mean gain over the noisy input on the same utterances (n paired: scored ok "
             "for both), with a bootstrap 95% CI; a negative gain means the model is worse than doing nothing."]
    without = sorted({record["Data"] for record in records if record["n paired"] is None})
    if without:
        notes.append("No gain where the data has no scored noisy input: " + ", ".join(without) + ".")
    return notes


TRAINING_COLUMNS = ["System", "Budget", "Minutes", "Data", "n", "PESQ", "PESQ 95% CI", "n paired", "Delta PESQ",
                    "Delta PESQ 95% CI", "CSIG", "CBAK", "COVL", "SSNR", "STOI", "Delta STOI"]


def training_table(results: Path, variant: str = DEFAULT_VARIANT) -> Table:
    """Every row of our own training runs with its budget, and where it stands against the noisy input
    (the gain over noisy on the same utterances, with its CI). No best value is marked: budgets differ."""
    noisy = _noisy_rows(results, variant)
    records, unrecorded = [], []
    for measured in _measured(results, variant):
        if measured.origin != ORIGIN_TRAINED:
            continue
        budget = _budget(measured)
        if budget is None:
            unrecorded.append(f"{measured.system} ({measured.dataset})")
        label = budget.label() if budget else f"not recorded ({measured.provenance.get('profile', 'unknown')} profile)"
        if measured.provenance.get("init"):
            label += f", fine-tuned from {measured.provenance['init']}"
        records.append({"Budget": label, "Minutes": budget.step_minutes if budget else None,
                        "Data": _dataset_label(measured.dataset), **_against_noisy(measured, noisy)})
    footnotes = ["Budget: training profile, generator steps x batch of crops, starting learning rate, training "
                 "data; the weights are the "
                 "run's best validation checkpoint. Minutes: wall time of the training steps on the machine that "
                 "trained it (validation excluded). Rows trained under different budgets are not comparable with "
                 "each other, nor with the authors' checkpoints (main table), which trained for the paper's epochs "
                 "on a GPU.", *_gain_notes(records, noisy)]
    if unrecorded:
        footnotes.append(f"{len(unrecorded)} row(s) scored before budgets were recorded name only their profile: "
                         + ", ".join(unrecorded) + "; re-run nox -s reproduce to record them.")
    return Table("training", pandas.DataFrame(records, columns=TRAINING_COLUMNS),
                 "Our training runs: budget, and standing against the noisy input", footnotes, highlight=False)


def _shared_budget(trained: list[Measured], budgets: dict[tuple[str, str], TrainingBudget | None]
                   ) -> tuple[tuple | None, str]:
    """The budget most of the ablation's models were trained under, and how it was chosen: on a tie, the one
    with the most steps (then the first in sorted order), and the tie is said."""
    models: dict[tuple, set[str]] = {}
    labels: dict[tuple, str] = {}
    for measured in trained:
        budget = budgets[measured.dataset, measured.system]
        if budget is not None:
            models.setdefault(budget.key, set()).add(measured.provenance["model"])
            labels[budget.key] = budget.label()
    if not models:
        return None, "no training run with a recorded budget"
    most = max(len(names) for names in models.values())
    tied = sorted((key for key, names in models.items() if len(names) == most), key=lambda key: (-key[1], key))
    label = labels[tied[0]]
    if len(tied) == 1:
        return tied[0], f"all trained under one budget, {label}"
    return tied[0], (f"all trained under one budget, {label}, chosen among {len(tied)} budgets that each cover "
                     f"{most} of the four models as the one with the most steps")


def ablation_table(results: Path, variant: str = DEFAULT_VARIANT) -> Table:
    """The four embedding/attention pairs: complexity, and the metrics of our training runs under one shared
    budget (`_shared_budget`); runs under any other budget, or none recorded, are named, not shown."""
    present = (results / MEASURED_FILES["complexity"]).exists()
    complexity = _complexity_frame(results).set_index("model") if present else None
    trained = [m for m in _measured(results, variant)
               if m.origin == ORIGIN_TRAINED and m.provenance.get("model") in ABLATION_MODELS]
    fine_tuned = [m for m in trained if m.provenance.get("init")]  # not from random weights: never compared here
    trained = [m for m in trained if m not in fine_tuned]
    budgets = {(m.dataset, m.system): _budget(m) for m in trained}
    shared, chosen = _shared_budget(trained, budgets)
    compared = [m for m in trained if budgets[m.dataset, m.system] is not None
                and budgets[m.dataset, m.system].key == shared]
    left_out = [f"{m.system} ({m.dataset})" for m in trained if m not in compared]
    left_out += [f"{m.system} ({m.dataset}, fine-tuned from {m.provenance['init']})" for m in fine_tuned]
    noisy = _noisy_rows(results, variant)
    blocks = {"imse": ("IDConv", "MALA"), "imse-de": ("deformable", "MALA"),
              "imse-taylor": ("IDConv", "Taylor"), "muse": ("deformable", "Taylor")}
    rows, records = [], []
    for model in ABLATION_MODELS:
        base = {"Model": model, "Embedding": blocks[model][0], "Attention": blocks[model][1]}
        if complexity is not None and model in complexity.index:
            base["Params (M)"] = complexity.loc[model, "parameters"] / 1e6
            base["GMACs / 1 s"] = complexity.loc[model, "macs_1s_fvcore"] / 1e9
        runs = [m for m in compared if m.provenance.get("model") == model]
        if not runs:
            rows.append({**base, "Weights": "", DATA_COLUMN: "", "n": ""})
        for run in runs:  # every cell of a row from its per-utterance table, the gain's pairs included
            cells = _against_noisy(run, noisy)
            records.append({"Data": _dataset_label(run.dataset), **cells})
            rows.append({**base, "Weights": run.system, DATA_COLUMN: _dataset_label(run.dataset), "n": cells["n"],
                         "Minutes": budgets[run.dataset, run.system].step_minutes,
                         **{METRIC_LABELS[m]: cells[METRIC_LABELS[m]] for m in METRICS},
                         "n paired": cells["n paired"], "Delta PESQ": cells.get("Delta PESQ")})
    from bench.train.__main__ import paper_epoch_range  # imports bench.data: only when this table is made

    footnotes = [f"Params and GMACs are measured by bench.complexity (fvcore, {_one_second()}).",
                 f"Metrics come from our own training runs, {chosen} (Minutes: wall time of the steps), so the four "
                 "are compared like with like; the authors' checkpoints, trained for the paper's "
                 f"{paper_epoch_range()} epochs, are in the main table.", *_gain_notes(records, noisy)]
    if left_out:
        footnotes.append("Left out, trained under another budget, from other weights than random, or with no budget "
                         "recorded (see the training table): "
                         + ", ".join(left_out) + ".")
    return Table("ablation", pandas.DataFrame(rows), "Ablation: IMSE is MUSE with two blocks swapped", footnotes)


def thread_count_label(count: int) -> str:
    """'1 thread' or 'N threads', for footnotes and plot titles."""
    return f"{count} thread" + ("" if int(count) == 1 else "s")


COMPLEXITY_NUMBERS = ("parameters", "parameters_paper_convention", "macs_1s_fvcore", "macs_1s_ptflops",
                      "macs_segment_fvcore", "cpu_count")
SCALING_NUMBERS = ("seconds", "samples", "macs", "latency_median_s", "rtf", "latency_threads", "cpu_count")


def _complexity_frame(results: Path) -> pandas.DataFrame:
    path = results / MEASURED_FILES["complexity"]
    frame = read_frame(path, ["model", *COMPLEXITY_NUMBERS, "machine"], COMPLEXITY_NUMBERS)
    _require_numeric(path, frame, [column for column in frame.columns if RTF_COLUMN.match(column)])
    return frame


def _rtf_labels(frame: pandas.DataFrame) -> dict[str, str]:
    """complexity.csv's RTF columns and their labels: torch before onnxruntime, segmented before full, fewer
    threads first; onnxruntime's labels name it."""
    found = [(match[1] or "", match[2], int(match[3]), column) for column in frame.columns
             if (match := RTF_COLUMN.match(column))]
    found.sort(key=lambda item: (item[0], item[1] != "segmented", item[2]))
    return {column: f"RTF {mode}, {thread_count_label(threads)}" + (f", {backend}" if backend else "")
            for backend, mode, threads, column in found}


def complexity_table(results: Path) -> Table:
    """Exact parameter counts (both conventions), MACs by both counters, every measured RTF, memory, GPU time."""
    frame = _complexity_frame(results)
    rows = pandas.DataFrame({
        "Model": frame["model"],
        "Params": frame["parameters"],
        "Params, paper convention": frame["parameters_paper_convention"],
        "GMACs / 1 s": frame["macs_1s_fvcore"] / 1e9,
        "GMACs / 1 s (ptflops)": frame["macs_1s_ptflops"] / 1e9,
        "GMACs / segment": frame["macs_segment_fvcore"] / 1e9,
    })
    for column, label in _rtf_labels(frame).items():
        rows[label] = frame[column]
    onnx_exported = "onnx_file_mb" in frame and frame["onnx_file_mb"].notna().any()
    if onnx_exported:
        rows["ONNX file (MB)"] = frame["onnx_file_mb"]
    rows["Peak memory (MiB)"] = frame.get("peak_memory_mb")
    gpu_measured = "gpu_forward_s" in frame and frame["gpu_forward_s"].notna().any()
    if gpu_measured:
        rows["GPU forward, segment (ms)"] = 1000 * frame["gpu_forward_s"]
    footnotes = _complexity_footnotes(results, frame)
    if frame["macs_segment_fvcore"].isna().any():
        footnotes.append("GMACs / segment is empty for a model without segments (GTCRN takes whole utterances); "
                         "compare GMACs / 1 s.")
    reported_note = _reported_complexity_note(results)
    if reported_note:
        footnotes.append(reported_note)
    if "onnx_note" in frame:
        footnotes.append(_onnxruntime_note(frame, onnx_exported))
    if gpu_measured:
        footnotes.append(f"GPU forward: median of {GPU_REPEATS} CUDA-event timings on {frame['gpu'].iloc[0]}, batch 1.")
    return Table("complexity", rows, "Complexity of the registered models", footnotes)


def _onnxruntime_note(frame: pandas.DataFrame, exported: bool) -> str:
    """How the onnxruntime columns were measured (or that none was), and each model's reason for an empty cell."""
    if exported:
        note = ("onnxruntime: the network exported by `python -m imse.export` (checked against torch before it is "
                "kept) and run through the same front end and segmenting as torch; ONNX file: its size (1 MB = "
                "1,000,000 bytes).")
    else:
        note = "onnxruntime: no model was exported, so its columns are left out."
    reasons = {}
    for model, reason in zip(frame["model"], frame["onnx_note"].fillna(""), strict=True):
        if reason:
            reasons.setdefault(str(reason).split(";")[0].strip(), []).append(str(model))
    if reasons:
        note += " Empty: " + "; ".join(f"{', '.join(models)}: {reason}" for reason, models in reasons.items()) + "."
    return note


def _paper_convention_note(results: Path, frame: pandas.DataFrame) -> str:
    """The footnote on the paper's parameter convention, with the paper's and our IMSE count where both exist."""
    note = "The paper convention leaves out the IDConv 1x1 projections (inferred"
    reported = _reported(results).set_index("system")
    imse = frame.loc[frame["model"] == "imse", "parameters_paper_convention"]
    if "IMSE" not in reported.index or imse.empty:
        return note + ")."
    return f"{note}: the paper's {reported.loc['IMSE', 'params_m']:g}M is IMSE's {int(imse.iloc[0]):,} truncated)."


def _frames_of_one_second(models: Sequence[str]) -> str:
    """'164 frames for imse, 64 for gtcrn': the frames each registered model's STFT makes of ONE_SECOND."""
    from imse.registry import registry

    counts: dict[int, list[str]] = {}
    for name in dict.fromkeys(models):
        try:
            stft = registry.model(name).config.front_end.stft
        except (KeyError, AttributeError):  # a model this installation does not register
            continue
        counts.setdefault(stft.frames(ONE_SECOND), []).append(name)
    if not counts:
        return f"{STFTConfig().frames(ONE_SECOND)} frames of the U-Nets' STFT"
    return "; ".join(f"{count} frames for {', '.join(names)}" for count, names in counts.items())


def _complexity_footnotes(results: Path, frame: pandas.DataFrame) -> list[str]:
    """How complexity.csv was measured: lengths, conventions, timing and memory, from bench.complexity's settings."""
    machine = f"{frame['machine'].iloc[0]}, {frame['cpu_count'].iloc[0]} cores"
    return [
        "Measured by `python -m bench.complexity`. MACs of the network on its front end's input (IMSE, MUSE: "
        f"magnitude and phase; GTCRN: the complex spectrum), STFT excluded; 1 s = {ONE_SECOND:,} samples "
        f"({_frames_of_one_second(frame['model'])}); "
        f"segment = {SEGMENT_SIZE:,} samples. GRUs count 3 x (input x hidden + hidden x hidden) MACs per step "
        "and direction; elementwise operators are not counted.",
        _paper_convention_note(results, frame),
        f"RTF: median wall time over audio duration (--latency-seconds, {LATENCY_SECONDS:g} s by default), after a "
        f"warm-up, on {machine}; segmented is the authors' inference in {SEGMENT_SIZE:,}-sample segments, full is "
        "one pass. complexity.csv also has each p90.",
        "Peak memory: resident memory one segmented enhancement adds "
        f"over the loaded model after a warm-up call, median of {MEMORY_PROBES} fresh processes; complexity.csv also "
        "has the maximum and the first call, which pages in library kernels (about 200 MiB).",
    ]


def scaling_table(results: Path) -> Table:
    """MACs by block type and full-utterance latency for each model and input length."""
    frame = read_frame(results / MEASURED_FILES["scaling"], ["model", *SCALING_NUMBERS, "machine"], SCALING_NUMBERS)
    if frame.empty:
        raise TablesError(f"{results / MEASURED_FILES['scaling']}: no rows")
    blocks = [column.removeprefix("macs_") for column in frame.columns if column.startswith("macs_")]
    rows = pandas.DataFrame({"Model": frame["model"], "Seconds": frame["seconds"], "GMACs": frame["macs"] / 1e9})
    for block in blocks:
        rows[f"{block} (%)"] = 100 * frame[f"macs_{block}"] / frame["macs"]
    rows["GMACs / s"] = frame["macs"] / 1e9 / (frame["samples"] / SAMPLE_RATE)  # per second of (padded) input
    rows["Latency (s)"] = frame["latency_median_s"]
    rows["RTF"] = frame["rtf"]
    first = frame.iloc[0]
    machine = f"{first['machine']}, {first['cpu_count']} cores, {thread_count_label(first['latency_threads'])}"
    footnotes = [
        "Measured by `python -m bench.complexity --scaling-output`: ptflops (aten) on the meta device, each module's "
        "MACs attributed to its block type; elementwise operators (norms among them) are not counted.",
        "Each length is padded to a whole number of U-Net frames; latency is the median of a full (unsegmented) "
        f"enhancement after a warm-up, on {machine}.",
    ]
    return Table("scaling", rows, "Complexity against input length, by block type", footnotes)


def metric_variants_table(results: Path) -> Table:
    """CSIG, CBAK and COVL of each system scored both ways, and the inflation."""
    measured = load_measured(results)
    index = {(m.dataset, m.system, m.variant): m for m in measured}
    rows = []
    for (dataset, system, variant), loizou in sorted(index.items()):
        if variant != "loizou" or (dataset, system, "upstream-float") not in index:
            continue
        inflated = index[(dataset, system, "upstream-float")]
        samples = dict.fromkeys([loizou.sample(), inflated.sample()])
        row = {"System": system, "Data": _dataset_label(dataset), "n": " / ".join(samples)}
        for metric in ("csig", "cbak", "covl"):
            label = METRIC_LABELS[metric]
            row[f"{label} loizou"] = loizou.mean(metric)
            row[f"{label} upstream-float"] = inflated.mean(metric)
            row[f"{label} inflation"] = inflated.mean(metric) - loizou.mean(metric)
        rows.append(row)
    footnotes = ["`loizou`: Loizou's composite.m scale (CMGAN's int16 path). `upstream-float`: the evaluation "
                 "scripts of MP-SENet, MUSE and IMSE, which pass float audio into code that divides by 32768."]
    return Table("metric-variants", pandas.DataFrame(rows), "How much of a published composite score is scaling",
                 footnotes)


def significance_table(results: Path) -> Table:
    """Every paired comparison of results/significance.json, one row per metric."""
    comparisons = _significance(results / "significance.json")
    rows = []
    for comparison in comparisons:
        for metric in MEASURE_LABELS:
            statistics = comparison["metrics"].get(metric)
            if statistics is None:
                continue
            low, high = statistics["ci95"]
            rows.append({"A": comparison["system_a"], "B": comparison["system_b"],
                         "Data": _dataset_label(comparison["dataset"]), "Metric": MEASURE_LABELS[metric],
                         "Mean A - B": statistics["mean_difference"], "95% CI low": low, "95% CI high": high,
                         "Wilcoxon p": statistics.get("wilcoxon_p"), "n": comparison["paired_utterances"]})
    footnotes = ["Paired over utterances scored ok for both systems: mean difference, 95% paired bootstrap CI "
                 f"({BOOTSTRAP_RESAMPLES:,} resamples, fixed seed) and the Wilcoxon signed-rank p-value."]
    return Table("significance", pandas.DataFrame(rows), "Paired comparisons between systems", footnotes)


BREAKDOWN_GROUPS = {"snr_db": "SNR (dB)", "noise_type": "Noise type"}
"""The condition columns a breakdown groups by, and how a row names them."""
BREAKDOWN_GAINS = ("pesq", "stoi")
"""The measures whose improvement over the noisy input on the same utterances the breakdown shows."""
BREAKDOWN_ABSENT = ("no measured table has condition columns (snr_db, noise_type); score data that knows them "
                    "with python -m bench.evaluate --conditions, as nox -s reproduce does for VB-mini")
BREAKDOWN_COLUMNS = ["Data", "By", "Condition", "System", "n", "PESQ", "PESQ 95% CI", "Delta PESQ",
                     "Delta PESQ 95% CI", "CSIG", "CBAK", "COVL", "SSNR", "STOI", "Delta STOI"]


def breakdown_table(results: Path, variant: str = DEFAULT_VARIANT) -> Table:
    """Each system's means per SNR and per noise type, with the improvement over noisy on the same utterances.

    Only tables scored with conditions (snr_db and noise_type columns) are broken down; the
    others are named in a footnote. Raises TablesError where a system and the noisy input
    disagree on an utterance's condition.
    """
    described: dict[str, list[tuple[Measured, list[dict]]]] = {}
    undescribed: dict[str, list[str]] = {}
    for measured in _measured(results, variant):
        rows, header = read_table(measured.table)
        if has_conditions(header):
            described.setdefault(measured.dataset, []).append((measured, rows))
        else:
            undescribed.setdefault(measured.dataset, []).append(measured.system)
    records = []
    for dataset, systems in described.items():
        noisy = next(((m, rows) for m, rows in systems if m.origin == ORIGIN_INPUT), None)
        for measured, rows in systems:
            if noisy is not None:
                _check_same_conditions(measured, rows, *noisy)
        noisy_ok = {row["utterance"]: row for row in noisy[1] if row["status"] == OK} if noisy else {}
        for column, label in BREAKDOWN_GROUPS.items():
            for value in sorted({row[column] for _, rows in systems for row in rows}):
                for measured, rows in systems:
                    group = [row for row in rows if row[column] == value]
                    if group:
                        condition = f"{value:g}" if column == "snr_db" else value
                        records.append({"Data": _dataset_label(dataset), "By": label, "Condition": condition,
                                        **_means_and_gains(measured, group, noisy_ok)})
    return Table("breakdown", pandas.DataFrame(records, columns=BREAKDOWN_COLUMNS),
                 "Results by SNR and by noise type", _breakdown_footnotes(variant, undescribed), highlight=False)


def _check_same_conditions(measured: Measured, rows: list[dict], noisy: Measured, noisy_rows: list[dict]) -> None:
    """Refuse a system table whose utterance was scored at another condition than the noisy input's."""
    noisy_condition = {row["utterance"]: tuple(row[c] for c in CONDITION_COLUMNS) for row in noisy_rows}
    for row in rows:
        condition = tuple(row[c] for c in CONDITION_COLUMNS)
        if noisy_condition.get(row["utterance"], condition) != condition:
            raise TablesError(f"{measured.table}: {row['utterance']} is at {condition}, but {noisy.table} has it at "
                              f"{noisy_condition[row['utterance']]}; score both with the same conditions file")


def _means_and_gains(measured: Measured, group: list[dict], noisy_ok: dict[str, dict]) -> dict:
    """One system on a group of utterances (one condition, or all): n, means (PESQ with its CI) and, but for
    noisy, the gains over noisy."""
    ok = [row for row in group if row["status"] == OK]
    failed = len(group) - len(ok)
    pesq = describe(np.array([row["pesq"] for row in ok]))
    cells = {"System": measured.system, "n": f"{len(ok)} of {len(group)}, {failed} failed" if failed else str(len(ok)),
             "PESQ": pesq["mean"], "PESQ 95% CI": _interval(pesq["ci95"]), "Delta PESQ 95% CI": "",
             **{METRIC_LABELS[m]: describe(np.array([row[m] for row in ok]))["mean"] for m in METRICS if m != "pesq"}}
    paired = [row for row in ok if row["utterance"] in noisy_ok]
    if measured.origin != ORIGIN_INPUT and paired:
        for metric in BREAKDOWN_GAINS:
            gain = describe(np.array([row[metric] - noisy_ok[row["utterance"]][metric] for row in paired]))
            cells[f"Delta {METRIC_LABELS[metric]}"] = gain["mean"]
            if metric == "pesq":
                cells["Delta PESQ 95% CI"] = _interval(gain["ci95"])
    return cells


def _interval(bounds: list[float]) -> str:
    """'[2.104, 2.380]', or '' where there is no interval (fewer than MIN_SAMPLE values)."""
    low, high = bounds
    return "" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


def _breakdown_footnotes(variant: str, undescribed: dict[str, list[str]]) -> list[str]:
    footnotes = [
        "Each row: one system's utterances of one condition; n counts those scored ok, over which every mean is "
        f"taken (composite variant `{variant}`).",
        "Delta: the system minus the noisy input on the same utterances (scored ok for both), mean over them.",
        f"95% CI: percentile bootstrap of the mean over utterances ({BOOTSTRAP_RESAMPLES:,} resamples, fixed seed); "
        f"empty below {MIN_SAMPLE} utterances.",
    ]
    if undescribed:
        left_out = "; ".join(f"{_dataset_label(dataset)} ({', '.join(systems)})"
                             for dataset, systems in undescribed.items())
        footnotes.append(f"Not broken down, their tables have no condition columns (data that does not know each "
                         f"utterance's SNR and noise type, or scored without bench.evaluate --conditions): {left_out}.")
    return footnotes


def _comparison_problem(comparison) -> str | None:
    if not isinstance(comparison, dict):
        return "not a JSON object"
    missing = [key for key in ("system_a", "system_b", "dataset", "paired_utterances", "metrics")
               if key not in comparison]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(comparison["metrics"], dict):
        return "metrics is not an object"
    for metric, statistics in comparison["metrics"].items():
        ci95 = statistics.get("ci95") if isinstance(statistics, dict) else None
        if metric not in MEASURE_LABELS or not isinstance(ci95, list) or len(ci95) != 2 \
                or "mean_difference" not in statistics:
            return f"metrics.{metric} is not a paired comparison (mean_difference, ci95 [low, high])"
    return None


def _significance(path: Path) -> list[dict]:
    """The comparisons of significance.json ([] without one); TablesError naming it when broken."""
    if not path.exists():
        return []
    try:
        comparisons = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise TablesError(f"{path}: not valid JSON, truncated? ({error})") from None
    if not isinstance(comparisons, list):
        raise TablesError(f"{path}: not a list of comparisons")
    for index, comparison in enumerate(comparisons):
        problem = _comparison_problem(comparison)
        if problem is not None:
            raise TablesError(f"{path}: comparison {index}: {problem}")
    return comparisons


def build(name: str, results: Path, variant: str = DEFAULT_VARIANT) -> Table:
    """One of TABLES by name."""
    builders = {
        "main": lambda: main_table(results, variant),
        "training": lambda: training_table(results, variant),
        "ablation": lambda: ablation_table(results, variant),
        "complexity": lambda: complexity_table(results),
        "scaling": lambda: scaling_table(results),
        "metric-variants": lambda: metric_variants_table(results),
        "significance": lambda: significance_table(results),
        "breakdown": lambda: breakdown_table(results, variant),
    }
    return builders[name]()


def _precision(column: str) -> str:
    if column in {"Params", "Params, paper convention"}:  # whole counts
        return "{:,.0f}"
    two_decimals = {"SSNR", "SI-SDR", "Params, paper convention (M)", "Peak memory (MiB)"}
    if column in two_decimals or column.endswith("(%)"):
        return "{:.2f}"
    if column in {"n", "n paired", "Seconds"}:
        return "{:.0f}"
    if column == "Minutes":
        return "{:.1f}"
    if column == "Wilcoxon p":
        return "{:.2g}"
    return "{:.3f}"


def to_latex(table: Table) -> str:
    """A booktabs table environment (a rule between data groups); best values bold; footnote letters as
    superscripts on the cells, headers or caption they explain; the footnotes below."""
    header, rows = layout(table)
    numeric = numeric_columns(table)
    groups = list(table.frame[DATA_COLUMN]) if DATA_COLUMN in table.frame.columns else [None] * len(rows)
    runs = sum(1 for index in range(len(groups)) if index == 0 or groups[index] != groups[index - 1])
    ruled = runs == len(set(groups))  # a rule between groups only where each group is one block of rows
    lines = [" & ".join(_latex_cell(cell) for cell in header) + " \\\\", "\\midrule"]
    for index, row in enumerate(rows):
        if ruled and index and groups[index] != groups[index - 1]:
            lines.append("\\midrule")
        lines.append(" & ".join(_latex_cell(cell) for cell in row) + " \\\\")
    tabular = ("\\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}\n\\toprule\n"
               + "\n".join(lines) + "\n\\bottomrule\n\\end{tabular}\n")
    notes = "\n".join(f"\\item[$^{{{footnote_mark(i)}}}$] {_escape(note)}" for i, note in enumerate(table.footnotes))
    return (
        "\\begin{table*}[t]\n\\centering\\scriptsize\n"
        f"\\caption{{{_escape(table.caption)}{_latex_marks(caption_marks(table))}}}\\label{{tab:{table.name}}}\n"
        "\\resizebox{\\textwidth}{!}{%\n" + tabular + "}\n"
        "\\begin{itemize}\\footnotesize\n" + notes + "\n\\end{itemize}\n\\end{table*}\n"
    )


def _latex_marks(marks: tuple[str, ...]) -> str:
    return f"$^{{{','.join(marks)}}}$" if marks else ""


def _latex_cell(cell: Cell) -> str:
    text = _escape(cell.text)
    return (f"\\textbf{{{text}}}" if cell.best else text) + _latex_marks(cell.marks)


def _markdown(table: Table) -> str:
    """A pipe table: best values bold, footnote letters in brackets after the cell, header or caption."""
    header, rows = layout(table)

    def text(cell: Cell) -> str:
        shown = f"**{cell.text}**" if cell.best else cell.text
        return shown + "".join(f" [{mark}]" for mark in cell.marks)

    numeric = numeric_columns(table)
    body = pandas.DataFrame([[text(cell) for cell in row] for row in rows], columns=[text(cell) for cell in header])
    caption = table.caption + "".join(f" [{mark}]" for mark in caption_marks(table))
    notes = "\n".join(f"- [{footnote_mark(i)}] {note}" for i, note in enumerate(table.footnotes))
    return (f"### {caption}\n\n"
            + body.to_markdown(index=False, colalign=["right" if n else "left" for n in numeric],
                                disable_numparse=True) + "\n\n" + notes)


LATEX_SPECIALS = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_",
                  "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}",
                  "<": "\\textless{}", ">": "\\textgreater{}", "|": "\\textbar{}", "`": ""}
"""What each of LaTeX's special characters is written as in a table's text (a Markdown code quote is dropped)."""

_LATEX_SPECIAL = re.compile("|".join(map(re.escape, LATEX_SPECIALS)) + "|-(?=-)")


def _escape(text: str) -> str:
    """`text` for LaTeX: each of LaTeX's ASCII special characters escaped in one pass (so an escape is never
    escaped again), a hyphen before another followed by {} so that "--" does not become an en dash, and a
    Markdown code quote (`) dropped. Characters that pdflatex's default fonts lack (CJK, say) are not
    handled: the document then fails to compile, naming the character."""
    return _LATEX_SPECIAL.sub(lambda match: LATEX_SPECIALS.get(match.group(), "-{}"), text)


def latex_document(tables: list[Table]) -> str:
    """A standalone LaTeX document of the tables."""
    body = "\n".join(to_latex(table) for table in tables)
    return ("\\documentclass{article}\n\\usepackage[margin=1.5cm,landscape]{geometry}\n\\usepackage{booktabs}\n"
            "\\usepackage{graphicx}\n\\begin{document}\n" + body + "\\end{document}\n")


def render(tables: list[Table], output_format: str, fragment: bool = False) -> str:
    """The tables as LaTeX (a document, or table environments with `fragment`), Markdown or CSV text (each
    table's rows, a blank line between tables; their footnotes are `footnotes_csv`)."""
    if output_format == "latex":
        return "".join(to_latex(t) for t in tables) if fragment else latex_document(tables)
    if output_format == "markdown":
        return "\n\n".join(_markdown(t) for t in tables) + "\n"
    return "\n".join(_for_spreadsheets(t.frame.assign(table=t.name)).to_csv(index=False) for t in tables)


def footnotes_csv(tables: list[Table]) -> str:
    """Every table's footnotes as one CSV (`footnotes_frame` rows): CSV cells have no place for footnote letters,
    so `write_tables` writes this beside a CSV output (`footnotes_path`)."""
    return _for_spreadsheets(pandas.concat([footnotes_frame(t) for t in tables], ignore_index=True)).to_csv(index=False)


def footnotes_path(output: Path) -> Path:
    """Where the footnotes of a CSV output go: tables.csv -> tables.footnotes.csv."""
    return output.with_name(f"{output.stem}.footnotes.csv")


def footnotes_frame(table: Table) -> pandas.DataFrame:
    """A table's footnotes as rows: its name, each footnote's letter, what it explains (the headers or the
    starts of the cells its letter is put on, or the whole table) and its text."""
    explains: dict[int, list[str]] = {index: [] for index in range(len(table.footnotes))}
    for label, index in table.anchors.items():
        explains[index].append(label)
    return pandas.DataFrame({"table": table.name,
                             "footnote": [footnote_mark(index) for index in range(len(table.footnotes))],
                             "explains": ["; ".join(explains[index]) or "the whole table" for index in explains],
                             "text": table.footnotes}, columns=FOOTNOTES_HEADER.split(","))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may take for the start of a formula in a cell of an opened CSV."""


def neutralise(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading quote before =, +, -, @, tab or CR."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _for_spreadsheets(frame: pandas.DataFrame) -> pandas.DataFrame:
    """The frame with its text cells neutralised (numbers, negative ones included, stay numbers)."""
    frame = frame.copy()
    for column in frame.columns:
        if not pandas.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(lambda value: neutralise(value) if isinstance(value, str) else value)
    return frame


def check_output(results: Path, output: Path) -> None:
    """Refuse an --output that is a directory or a file the tables are made from (reported.csv, measured/, ...)."""
    if output.is_dir():
        raise TablesError(f"--output {output} is a directory; name a file, e.g. {output / 'tables.tex'}")
    target = output.resolve()
    inputs = [results / name for name in ("reported.csv", "significance.json", *MEASURED_FILES.values())]
    folders = [(results / name).resolve() for name in ("measured", "baselines")]
    if target in {path.resolve() for path in inputs} or any(folder in target.parents for folder in folders):
        raise TablesError(f"--output {output} is one of the results the tables are made from; name another file")
    if output.exists() and not _written_by_tables(output):
        raise TablesError(f"--output {output} exists and is not tables written by bench.tables; "
                          "refusing to replace it: name another file")


OUTPUT_OPENINGS = ("### ", "\\documentclass", "\\begin{table")
"""How a markdown or LaTeX file this tool wrote begins; its CSV's header ends with the `table` column."""

FOOTNOTES_HEADER = "table,footnote,explains,text"
"""The header of the footnotes CSV this tool writes beside a CSV output."""


def _written_by_tables(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as stream:
            first_line = stream.readline(4096).rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return False
    return first_line.startswith(OUTPUT_OPENINGS) or first_line.endswith(",table") or first_line == FOOTNOTES_HEADER


def write_tables(
    results: Path,
    output_format: str = "markdown",
    names: Sequence[str] | None = None,
    variant: str = DEFAULT_VARIANT,
    fragment: bool = False,
    output: Path | None = None,
) -> str:
    """The tables of `results` (default: all of TABLES) in one format; written to `output` when given.

    A table whose bench.complexity file is absent, and the breakdown where no measured table has
    condition columns, are left out with a note on stderr. Returns
    the text. Raises TablesError without results/reported.csv, for an unknown table or format, for
    an `output` that is a directory or one of the results files, or for a broken results file.
    """
    if not (results / "reported.csv").exists():
        raise TablesError(f"{results}/reported.csv not found; run from the repository root or pass --results")
    unknown = sorted(set(names or ()) - set(TABLES)) + ([output_format] if output_format not in FORMATS else [])
    if unknown:
        raise TablesError(f"unknown table or format {unknown}; tables are {TABLES}, formats {FORMATS}")
    companion = footnotes_path(Path(output)) if output is not None and output_format == "csv" else None
    for path in (output, companion):
        if path is not None:
            check_output(results, Path(path))
    names = list(names or TABLES)
    missing = missing_inputs(results, names)
    for name, path in missing.items():
        print(f"note: table {name!r} left out: {path} is absent; run "
              "python -m bench.complexity (see its --output and --scaling-output) or nox -s reproduce", file=sys.stderr)
    built = [build(name, results, variant) for name in names if name not in missing]
    tables = [table for table in built if not (table.name == "breakdown" and table.frame.empty)]
    if len(tables) < len(built):
        print(f"note: table 'breakdown' left out: {BREAKDOWN_ABSENT}", file=sys.stderr)
    text = render(tables, output_format, fragment)
    writes = {output: text} if output is not None else {}
    if companion is not None:
        writes[companion] = footnotes_csv(tables)
    for path, contents in writes.items():
        try:
            atomic_write_text(path, contents)
        except OSError as error:
            raise TablesError(f"--output {path} cannot be written ({error.strerror})") from error
    return text


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.tables`: parse, write the tables (to stdout without --output); 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--table", choices=TABLES, nargs="+", action="extend",
                        help="tables to write (repeatable; default: all)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--variant", choices=list(VARIANTS), default=DEFAULT_VARIANT)
    parser.add_argument("--fragment", action="store_true", help="LaTeX table environments only, no document")
    arguments = parser.parse_args(argv)
    try:
        text = write_tables(arguments.results, arguments.format, arguments.table, arguments.variant,
                            arguments.fragment, arguments.output)
    except BenchError as error:
        return report_error(error)
    if arguments.output is None:
        sys.stdout.write(text)
        if arguments.format == "csv":
            print("note: CSV cells hold no footnotes; with --output FILE.csv they are written to FILE.footnotes.csv",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
