"""A static, offline report of `results/` that a person can read and listen to.

    python -m bench.report [--results DIR] [--output DIR] [--no-enhance]

One `index.html` (Jinja2, bench/templates/) with its assets beside it, nothing fetched at view
time: every table of `bench.tables` (the best values bold among rows on the same data, footnote
letters linked), the plots of `bench.plots`, a listening section and the provenance of every
measured number (command, data, seed, versions, one <details> each).

Listening section: for each of LISTENING_DATASETS, the utterances where LISTENING_SYSTEM improves
PESQ over the noisy input the most, the median amount (the lower median of an even count) and
the least, from its per-utterance table (`loizou` variant). For each: the noisy and clean
input and every measured system's output, as 16 kHz mono PCM16 WAV with a spectrogram. A
system's output comes from `bench.reproduce`'s cache (`bench.pipeline.enhanced_directory`:
the weights' SHA-256, the code, the mode, the thread count); a file not there is enhanced on
demand from the weights its provenance names (not with --no-enhance), and a system whose
weights or audio cannot be had is left out of that utterance, said on the page and counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import torch

from bench import pipeline, plots, tables
from bench.errors import BenchError, report_error
from bench.metrics import DEFAULT_VARIANT
from bench.results import ORIGIN_INPUT, ORIGIN_TRAINED, ORIGIN_UPSTREAM, Measured, load_measured
from imse.atomic import atomic_write_text
from imse.audio import AudioError, read_audio, write_audio
from imse.frontend import SAMPLE_RATE

LISTENING_SYSTEM = "imse-vb-3.399"
LISTENING_DATASETS = ("vbdmd-sample", "vb-mini")
REPORT_SIZE_LIMIT = 20 * 1024 * 1024
"""The report is meant to stay under this (bytes); the page says its size, and a warning goes to stderr over it."""
TEMPLATES = Path(__file__).resolve().parent / "templates"


class ReportError(BenchError):
    """A report that cannot be written (no reported.csv, an output that is the results directory)."""


@dataclass
class Clip:
    """One player and its spectrogram: `audio` and `image` relative to index.html."""

    label: str
    audio: str
    image: str


@dataclass
class Utterance:
    """One chosen utterance of the listening section."""

    dataset: str
    identifier: str
    rule: str
    improvement: float
    clips: list[Clip] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def choose_utterances(results: Path, dataset: str, system: str = LISTENING_SYSTEM) -> list[tuple[str, str, float]]:
    """(rule, utterance, PESQ improvement) for the best, median and worst improvement of `system` over noisy;
    ties broken by utterance id; fewer rows when fewer utterances exist."""
    improvements = pipeline.per_utterance_improvements(results, dataset, system)
    ordered = sorted(improvements.items(), key=lambda item: (item[1], item[0]))
    if not ordered:
        return []
    picks = {"best": len(ordered) - 1, "median": (len(ordered) - 1) // 2, "worst": 0}
    chosen, seen = [], set()
    for rule, index in picks.items():
        if index not in seen:
            seen.add(index)
            chosen.append((rule, str(ordered[index][0]), float(ordered[index][1])))
    return chosen


def _test_set(dataset: str, shared: Path | None, work: Path) -> pipeline.TestSet | None:
    """Where the clean and noisy files of `dataset` are: ../shared's sample, or bench.reproduce's export."""
    if dataset == "vbdmd-sample":
        return pipeline.sample_test_set(shared) if shared and (shared / "vbdmd-sample").is_dir() else None
    root = work / "data" / dataset
    return pipeline.TestSet(dataset, root / "clean", root / "noisy", dataset) if root.is_dir() else None


class Enhanced:
    """Finds (or makes, with `enhance`) the enhanced file of a measured system for one utterance."""

    def __init__(self, work: Path, enhance: bool) -> None:
        self.work = work
        self.enhance = enhance
        self.models: dict[str, object] = {}

    def find(self, run: Measured, noisy: Path) -> tuple[Path | None, str]:
        """(the enhanced file, "") or (None, why not)."""
        record = run.provenance
        if not record.get("sha256"):
            return None, "its provenance names no weights (sha256)"
        mode, threads = record.get("mode", "segmented"), int(record.get("torch_threads", 1))
        directory = pipeline.enhanced_directory(self.work, run.dataset, record["sha256"], mode, threads)
        target = directory / f"{noisy.stem}.wav"
        if target.exists():
            return target, ""
        if not self.enhance:
            return None, f"not in the cache ({directory}) and --no-enhance"
        return self._enhance(run, noisy, directory, mode, threads)

    def _enhance(self, run: Measured, noisy: Path, directory: Path, mode: str, threads: int) -> tuple[Path | None, str]:
        from imse.checkpoint import CheckpointError
        from imse.enhance import enhance_files
        from imse.loading import load_model

        record = run.provenance
        weights = record.get("bundle") or record.get("weights")
        if not weights or (not record.get("bundle") and not Path(weights).exists()):
            return None, f"not in the cache and its weights ({record.get('weights')}) are not on this machine"
        try:
            if weights not in self.models:
                loaded = load_model(weights, trust_unknown=run.origin != ORIGIN_UPSTREAM)
                if loaded.sha256 != record["sha256"]:
                    return None, f"the weights at {weights} are not the ones scored (SHA-256 differs)"
                self.models[weights] = loaded.model
        except (CheckpointError, OSError) as error:
            return None, f"its weights cannot be loaded ({error})"
        before = torch.get_num_threads()
        torch.set_num_threads(threads)  # the thread count is part of the cache key: enhance as the scoring run did
        try:
            report = enhance_files([noisy], self.models[weights], directory, mode, subtype="FLOAT", progress=False)
        finally:
            torch.set_num_threads(before)
        if report.failures:
            return None, "enhancement failed: " + "; ".join(message for _, message in report.failures)
        return directory / f"{noisy.stem}.wav", ""


def _listening(results: Path, output: Path, shared: Path | None, work: Path, enhance: bool,
               notes: list[str]) -> list[Utterance]:
    """The chosen utterances with their clips written under output/audio and output/spectrograms."""
    measured = [m for m in load_measured(results) if m.variant == DEFAULT_VARIANT]
    enhanced = Enhanced(work, enhance)
    chosen = []
    for dataset in LISTENING_DATASETS:
        systems = [m for m in measured if m.dataset == dataset and m.origin != ORIGIN_INPUT]
        if not any(m.system == LISTENING_SYSTEM for m in systems) or not any(
                m.system == "noisy" for m in measured if m.dataset == dataset):
            notes.append(f"{dataset}: no scored {LISTENING_SYSTEM} and noisy rows, so nothing chosen to listen to")
            continue
        test_set = _test_set(dataset, shared, work)
        if test_set is None:
            notes.append(f"{dataset}: its clean and noisy audio is not on this machine (the sample needs "
                         f"${pipeline.SHARED_VARIABLE}; VB-mini needs a bench.reproduce run); left out")
            continue
        for rule, identifier, improvement in choose_utterances(results, dataset):
            utterance = Utterance(dataset, identifier, rule, improvement)
            sources = [("noisy", test_set.noisy / f"{identifier}.wav"), ("clean", test_set.clean / f"{identifier}.wav")]
            for run in systems:
                path, why = enhanced.find(run, sources[0][1])
                if path is None:
                    utterance.left_out.append(f"{run.system}: {why}")
                else:
                    sources.append((run.system, path))
            _write_clips(utterance, sources, output)
            chosen.append(utterance)
    return chosen


def _write_clips(utterance: Utterance, sources: list[tuple[str, Path]], output: Path) -> None:
    """Each source as a PCM16 WAV and a spectrogram on one scale for the utterance; an unreadable one is left out."""
    signals = []
    for label, path in sources:
        try:
            signals.append((label, read_audio(path).samples))
        except AudioError as error:
            utterance.left_out.append(f"{label}: {error}")
    if not signals:
        return
    spectra = [plots.magnitude_db(samples) for _, samples in signals]  # once each: for the peak and the image
    peak = max(float(decibels.max()) for _, _, decibels in spectra)
    for (label, samples), spectrum in zip(signals, spectra, strict=True):
        stem = f"{utterance.dataset}/{utterance.identifier}/{label}"
        write_audio(output / "audio" / f"{stem}.wav", np.clip(samples, -1, 1), SAMPLE_RATE, "PCM_16")
        plots.spectrogram(spectrum, output / "spectrograms" / f"{stem}.png", label, peak)
        utterance.clips.append(Clip(label, f"audio/{stem}.wav", f"spectrograms/{stem}.png"))


def _tables(results: Path, notes: list[str]) -> list[dict]:
    """Every table bench.tables offers, laid out for HTML; one whose input file is absent is left out, noted."""
    laid_out = []
    missing = tables.missing_inputs(results, tables.TABLES)
    for name in tables.TABLES:
        if name in missing:
            notes.append(f"table {name!r} left out: {missing[name]} is absent")
            continue
        table = tables.build(name, results)
        if table.frame.empty:
            notes.append(f"table {name!r} left out: it has no rows in {results}")
            continue
        header, rows = tables.layout(table)
        data = list(table.frame[tables.DATA_COLUMN]) if tables.DATA_COLUMN in table.frame.columns else []
        laid_out.append({
            "name": table.name, "caption": table.caption, "caption_marks": tables.caption_marks(table),
            "header": header, "rows": rows, "numeric": tables.numeric_columns(table),
            "group_starts": [index > 0 and data[index] != data[index - 1] for index in range(len(data))] or
                            [False] * len(rows),
            "footnotes": [(tables.footnote_mark(i), note) for i, note in enumerate(table.footnotes)],
        })
    return laid_out


def _provenance(results: Path) -> list[dict]:
    """Each measured system and dataset: its provenance record and the summary of every variant scored."""
    records: dict[tuple[str, str], dict] = {}
    for run in load_measured(results):
        entry = records.setdefault((run.dataset, run.system), {
            "dataset": run.dataset, "system": run.system, "origin": run.origin,
            "provenance": json.dumps(run.provenance, indent=2) if run.provenance else "",
            "seed": run.provenance.get("seed", "not recorded" if run.origin == ORIGIN_TRAINED else "none: no training"),
            "command": run.provenance.get("command", ""), "data": run.provenance.get("data", ""),
            "versions": run.provenance.get("versions", {}), "summaries": []})
        entry["summaries"].append({"variant": run.variant, "n": run.sample(),
                                   "file": str(run.table.relative_to(results))})
    return [records[key] for key in sorted(records)]


def _check_output(results: Path, output: Path) -> None:
    if not (results / "reported.csv").exists():
        raise ReportError(f"{results}/reported.csv not found; run from the repository root or pass --results")
    target, root = output.resolve(), results.resolve()
    if target == root or target in root.parents:
        raise ReportError(f"--output {output} would hold the results it reports on; name a folder of its own, "
                          f"e.g. {results / 'report'}")
    if root in target.parents and target != root / "report":
        raise ReportError(f"--output {output} lies inside the results, where its pages and audio would mix with "
                          f"measured files; inside {results} only {results / 'report'} is the report's")
    if output.exists() and not output.is_dir():
        raise ReportError(f"--output {output} is a file; name a folder")


def write_report(results: Path, output: Path, shared: Path | None = None, work: Path | None = None,
                 enhance: bool = True) -> Path:
    """Write output/index.html and its assets (plots/, audio/, spectrograms/) from `results`; returns index.html.

    `shared` is ../shared (default: $IMSE_BENCH_SHARED), `work` bench.reproduce's cache folder (default:
    bench.pipeline.work_dir()). The audio and spectrogram folders are replaced, so no clip of an earlier
    report stays behind. Raises ReportError (and what bench.tables raises) for unusable results.
    """
    results, output = Path(results), Path(output)
    _check_output(results, output)
    if shared is None and os.environ.get(pipeline.SHARED_VARIABLE):
        shared = Path(os.environ[pipeline.SHARED_VARIABLE])
    work = pipeline.work_dir() if work is None else work
    notes: list[str] = []
    laid_out = _tables(results, notes)
    for folder in ("audio", "spectrograms", "plots"):
        shutil.rmtree(output / folder, ignore_errors=True)
    plot_paths = [path for path in plots.write_plots(results, output / "plots") if path.suffix == ".png"]
    utterances = _listening(results, output, shared, work, enhance, notes)
    size = sum(path.stat().st_size for path in output.rglob("*") if path.is_file() and path.name != "index.html")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    page = environment.get_template("report.html.j2").render(
        tables=laid_out, plots=[f"plots/{path.name}" for path in plot_paths], utterances=utterances,
        listening_system=LISTENING_SYSTEM, left_out=sum(len(u.left_out) for u in utterances), notes=notes,
        provenance=_provenance(results), size_mb=size / 2**20, results=str(results))
    index = output / "index.html"
    atomic_write_text(index, page)
    if size > REPORT_SIZE_LIMIT:
        print(f"warning: the report's assets take {size / 2**20:.1f} MiB, over {REPORT_SIZE_LIMIT / 2**20:.0f} MiB",
              file=sys.stderr)
    return index


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report`: parse, write the report, print where index.html is; 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--output", type=Path, help="the report's folder (default: RESULTS/report)")
    parser.add_argument("--no-enhance", action="store_true",
                        help="leave out (and count) a system whose enhanced audio is not in the cache")
    arguments = parser.parse_args(argv)
    try:
        index = write_report(arguments.results, arguments.output or arguments.results / "report",
                             enhance=not arguments.no_enhance)
    except BenchError as error:
        return report_error(error)
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
