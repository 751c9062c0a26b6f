"""Plots from `results/` (PNG and PDF): the efficiency frontier, per-utterance PESQ improvements,
and how MACs and latency grow with the length of the input."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.mlab
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402
import pandas  # noqa: E402

from bench.metrics import DEFAULT_VARIANT  # noqa: E402
from bench.pipeline import per_utterance_improvement  # noqa: E402
from bench.results import ORIGIN_INPUT, ORIGIN_TRAINED, load_measured  # noqa: E402
from bench.tables import test_set_size, thread_count_label  # noqa: E402
from imse.atomic import atomic_write  # noqa: E402
from imse.frontend import SAMPLE_RATE  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
"""Okabe and Ito's colour-blind-safe palette (blue, orange, green, vermillion, purple, sky blue, yellow, black)."""
PESQ_LABEL = "wideband PESQ (MOS-LQO, 1 to 4.64)"
LABEL_POINTS = 7
"""Font size of point labels, in points; labels are stacked at least this far apart vertically (plus a gap)."""


def _save(figure: plt.Figure, output: Path, name: str) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / f"{name}.png", output / f"{name}.pdf"]
    for path in paths:  # no creation date in the PDF: the same results give the same bytes
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        with atomic_write(path, "wb") as stream:
            figure.savefig(stream, format=path.suffix[1:], dpi=150, bbox_inches="tight", metadata=metadata)
    plt.close(figure)
    return paths


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by any other with lower (or equal) cost and higher PESQ, sorted by cost."""
    frontier, best = [], float("-inf")
    for cost, pesq in sorted(points, key=lambda point: (point[0], -point[1])):  # of equal costs, the best first
        if pesq > best:
            frontier.append((cost, pesq))
            best = pesq
    return frontier


def label_points(axis: plt.Axes, points: list[tuple[float, float, str]], color: str = "black") -> None:
    """Write each label beside its point (to the right, or to the left near the right edge), moved up with a
    leader line where it would overlap a label already placed: points are taken from the lowest up, so labels
    never print on top of each other."""
    axis.figure.canvas.draw()  # final limits, so data-to-pixel positions hold
    to_pixels = axis.transData.transform
    pixels_per_point = axis.figure.dpi / 72
    height = (LABEL_POINTS + 2) * pixels_per_point
    edge = axis.get_window_extent().x1
    placed: list[tuple[float, float, float]] = []  # left, right, bottom of each label, in pixels
    for x, y, text in sorted(points, key=lambda point: (point[1], point[0])):
        anchor, bottom = to_pixels((x, y))
        width = 0.62 * LABEL_POINTS * pixels_per_point * len(text)
        gap = 6 * pixels_per_point
        rightwards = anchor + gap + width < edge
        left, right = (anchor + gap, anchor + gap + width) if rightwards else (anchor - gap - width, anchor - gap)
        lifted = bottom
        for other_left, other_right, other_bottom in sorted(placed, key=lambda label: label[2]):
            if other_left < right and left < other_right and abs(lifted - other_bottom) < height:
                lifted = other_bottom + height
        placed.append((left, right, lifted))
        offset = (lifted - bottom) / pixels_per_point
        axis.annotate(text, (x, y), xytext=(6 if rightwards else -6, offset), textcoords="offset points",
                      fontsize=LABEL_POINTS, va="center", ha="left" if rightwards else "right", color=color,
                      arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5} if offset > 1 else None)


def efficiency_frontier(results: Path, output: Path, dataset: str = "vbdmd-sample",
                        include_trained: bool = False) -> list[Path]:
    """PESQ against size in two panels that never mix data: (a) reported on the full test set, with the
    frontier drawn over those points only; (b) measured here on `dataset`, against compute. Our smoke-trained
    models (minutes on a CPU) are left out unless `include_trained`: their budget is not comparable."""
    reported = pandas.read_csv(results / "reported.csv").dropna(subset=["pesq", "params_m"])
    complexity = pandas.read_csv(results / "complexity.csv").set_index("model")
    measured = [m for m in load_measured(results)
                if m.variant == DEFAULT_VARIANT and m.origin != ORIGIN_INPUT and m.dataset == dataset
                and (include_trained or m.origin != ORIGIN_TRAINED)]
    figure, (by_parameters, by_macs) = plt.subplots(1, 2, figsize=(11, 4.4))
    by_parameters.scatter(reported["params_m"], reported["pesq"], marker="o", color=OKABE_ITO[0], zorder=3)
    frontier = _pareto(list(zip(reported["params_m"], reported["pesq"], strict=True)))
    by_parameters.plot(*zip(*frontier, strict=True), color=OKABE_ITO[1], linewidth=1, zorder=2,
                       label="frontier of the reported systems")
    by_parameters.set(xscale="log", xlabel="parameters (millions, log scale)", ylabel=PESQ_LABEL,
                      title=f"(a) reported, {test_set_size()}-utterance test set")
    by_parameters.legend(loc="lower center", fontsize=8)
    label_points(by_parameters, list(zip(reported["params_m"], reported["pesq"], reported["system"], strict=True)))
    placed = []
    for run in measured:
        model = run.provenance.get("model")
        if model not in complexity.index or run.mean("pesq") is None:
            continue
        trained = run.origin == ORIGIN_TRAINED
        macs = complexity.loc[model, "macs_1s_fvcore"] / 1e9
        by_macs.scatter(macs, run.mean("pesq"), marker="^" if trained else "s", s=40, zorder=3,
                        color=OKABE_ITO[4] if trained else OKABE_ITO[3])
        placed.append((macs, run.mean("pesq"), f"{run.system} (measured)"))
    by_macs.set(xscale="log", xlabel="GMACs per second of audio (fvcore, log scale)", ylabel=PESQ_LABEL,
                title=f"(b) measured here, {dataset} (n = {_sample_size(measured)})")
    by_macs.margins(x=0.3, y=0.2)  # on the log axis: GTCRN's 0.03 GMAC/s and the U-Nets' 5 share a panel
    label_points(by_macs, placed, color=OKABE_ITO[3])
    left_out = "" if include_trained else " Our smoke-trained models are left out: minutes of CPU training, " \
                                          "not a budget comparable to the published systems."
    figure.text(0.01, -0.04, "Reported and measured numbers are on different data and are not on one axis; the "
                             "frontier joins reported points only." + left_out, fontsize=8, ha="left", wrap=True)
    return _save(figure, output, "efficiency_frontier")


def _sample_size(measured: list) -> str:
    """The utterance counts of the measured runs, one value when they agree ("12")."""
    return ", ".join(dict.fromkeys(run.sample() for run in measured)) or "0"


def improvement_distributions(results: Path, output: Path,
                              systems: tuple[str, ...] = ("imse-vb-3.399", "muse-vb", "gtcrn-vb")) -> list[Path]:
    """Per-utterance PESQ improvement over the noisy input, per system and dataset."""
    measured = {(m.dataset, m.system) for m in load_measured(results) if m.variant == DEFAULT_VARIANT}
    datasets = sorted({dataset for dataset, system in measured if system in systems and (dataset, "noisy") in measured})
    figure, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 4), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=False):
        present = [system for system in systems if (dataset, system) in measured]
        values = [per_utterance_improvement(results, dataset, system) for system in present]
        violins = axis.violinplot(values, showmedians=True)
        for body, color in zip(violins["bodies"], OKABE_ITO, strict=False):
            body.set_facecolor(color)
        axis.axhline(0, color="black", linewidth=0.5)
        labels = [f"{system}\n(n={len(value)})" for system, value in zip(present, values, strict=True)]
        axis.set_xticks(range(1, len(present) + 1), labels)
        axis.set(ylabel="PESQ(enhanced) - PESQ(noisy) (MOS-LQO points)", title=f"per utterance, {dataset}")
    return _save(figure, output, "pesq_improvement")


def complexity_scaling(results: Path, output: Path) -> list[Path]:
    """MACs per second of input by block type (a bar per model and length), and latency against length."""
    frame = pandas.read_csv(results / "complexity_scaling.csv")
    blocks = [column for column in frame.columns if column.startswith("macs_")]
    models = list(dict.fromkeys(frame["model"]))
    figure, (by_block, timing) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    positions = [index + models.index(model) for index, model in enumerate(frame["model"])]  # a gap per model
    unsplit = frame[blocks].isna().all(axis=1)  # a model without IMSE's blocks (GTCRN): its total, one bar
    frame = frame.assign(**{"macs_no block split": frame["macs"].where(unsplit, 0)})
    blocks.append("macs_no block split")
    per_second = frame[blocks].fillna(0).div(frame["samples"] / SAMPLE_RATE, axis=0) / 1e9
    bottoms = None
    for index, block in enumerate(blocks):
        heights = per_second[block].to_numpy()
        by_block.bar(positions, heights, bottom=bottoms, label=block.removeprefix("macs_"),
                     color=OKABE_ITO[index % len(OKABE_ITO)])
        bottoms = heights if bottoms is None else bottoms + heights
    by_block.set_xticks(positions, [f"{seconds}" for seconds in frame["seconds"]], fontsize=7)
    for model in models:
        where = [position for position, name in zip(positions, frame["model"], strict=True) if name == model]
        by_block.annotate(model, (sum(where) / len(where), 0), xytext=(0, -24), textcoords="offset points",
                          xycoords=("data", "axes fraction"), ha="center", fontsize=8)
    by_block.set(ylabel="GMACs per second of input (ptflops)",
                 title=f"MACs per second by block type, input {frame['seconds'].min()}-{frame['seconds'].max()} s: "
                       "flat = linear in length")
    by_block.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.13))
    for model in models:
        rows = frame[frame["model"] == model]
        timing.plot(rows["seconds"], rows["latency_median_s"], marker="o", label=model,
                    color=OKABE_ITO[models.index(model) % len(OKABE_ITO)])
    first = frame[frame["model"] == models[0]].iloc[0]
    lengths = sorted(frame["seconds"].unique())
    timing.plot(lengths, [first["latency_median_s"] * length / first["seconds"] for length in lengths],
                linestyle=":", color="gray", label=f"linear from {models[0]} at {first['seconds']} s")
    timing.set(xscale="log", yscale="log", xlabel="input length (s, log)", ylabel="median latency (s, log)",
               title=f"Full-utterance latency, {thread_count_label(first['latency_threads'])}")
    timing.set_xticks(lengths, [str(length) for length in lengths])
    plain = matplotlib.ticker.FormatStrFormatter("%g")  # 0.3, 2, 6 rather than 3 x 10^-1
    timing.yaxis.set_major_formatter(plain)
    low, high = timing.get_ylim()  # minor labels only within a decade: across several they print on each other
    timing.yaxis.set_minor_formatter(plain if high / low < 10 else matplotlib.ticker.NullFormatter())
    timing.legend(fontsize=8)
    return _save(figure, output, "complexity_scaling")


def write_plots(results: Path, output: Path) -> list[Path]:
    """Every plot of `results` into `output`; the scaling plot only where complexity_scaling.csv exists."""
    paths = efficiency_frontier(results, output) + improvement_distributions(results, output)
    if (results / "complexity_scaling.csv").exists():
        paths += complexity_scaling(results, output)
    return paths


SPECTROGRAM_FLOOR_DB = -80.0
"""The spectrograms' colour scale: from the loudest bin of an utterance's clips down by this many dB."""
SPECTROGRAM_WINDOW = 512
SPECTROGRAM_HOP = 128


GENERATOR_TERMS = ("generator_total", "metric", "magnitude", "phase", "complex")
DISCRIMINATOR_TERMS = ("discriminator_total", "discriminator_real", "discriminator_enhanced")
VALIDATION_MEASURES = {"pesq": "PESQ", "csig": "CSIG", "cbak": "CBAK", "covl": "COVL", "stoi": "STOI"}


def learning_curve(run_dir: Path, output: Path | None = None) -> list[Path]:
    """learning_curve.png/.pdf of a bench.train run: each loss term (raw, and a running mean over a fiftieth
    of the run) and every validation measure against the step, from train_log.csv and validation_log.csv."""
    from bench.train.logs import TRAIN_LOG, VALIDATION_LOG

    steps = pandas.read_csv(run_dir / TRAIN_LOG)
    validations = pandas.read_csv(run_dir / VALIDATION_LOG) if (run_dir / VALIDATION_LOG).is_file() else None
    window = max(1, len(steps) // 50)
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, terms, title in ((axes[0], GENERATOR_TERMS, "generator loss terms"),
                               (axes[1], (*DISCRIMINATOR_TERMS, "batch_pesq"), "discriminator terms, batch PESQ")):
        for colour, term in zip(OKABE_ITO, terms, strict=False):
            values = pandas.to_numeric(steps[term], errors="coerce")
            axis.plot(steps["step"], values, color=colour, alpha=0.25, linewidth=0.6)
            axis.plot(steps["step"], values.rolling(window, min_periods=1).mean(), color=colour, label=term)
        label = "loss (terms unweighted, total weighted)" if axis is axes[0] else "value"
        axis.set(xlabel="generator step", title=title, ylabel=label)
        axis.legend(fontsize=7)
    axes[0].set_yscale("log")  # the terms are positive and span decades
    measured = [m for m in VALIDATION_MEASURES if validations is not None and validations[m].notna().any()]
    for colour, measure in zip(OKABE_ITO, measured, strict=False):
        axes[2].plot(validations["step"], validations[measure], marker="o", color=colour,
                     label=VALIDATION_MEASURES[measure])
    axes[2].set(xlabel="generator step", ylabel="validation mean",
                title=f"validation ({len(validations) if validations is not None else 0} evaluations)")
    if measured:
        axes[2].legend(fontsize=7)
    return _save(figure, output or run_dir, "learning_curve")


def magnitude_db(samples: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """(frequencies in Hz, times in s, |STFT| in dB): a Hann window of SPECTROGRAM_WINDOW samples."""
    spectrum, frequencies, times = matplotlib.mlab.specgram(
        samples, NFFT=SPECTROGRAM_WINDOW, Fs=SAMPLE_RATE, noverlap=SPECTROGRAM_WINDOW - SPECTROGRAM_HOP,
        mode="magnitude")
    return frequencies, times, 20 * numpy.log10(spectrum + 1e-12)


def spectrogram(spectrum: tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray], path: Path, title: str,
                peak_db: float) -> Path:
    """A small spectrogram PNG of `magnitude_db`'s result on the scale peak_db + SPECTROGRAM_FLOOR_DB .. peak_db,
    where peak_db is the loudest bin over every clip of one utterance, so that its clips (noisy, clean, each
    system) compare."""
    frequencies, times, decibels = spectrum
    figure, axis = plt.subplots(figsize=(3.6, 1.8))
    axis.pcolormesh(times, frequencies / 1000, decibels, cmap="magma", shading="auto",
                    vmin=peak_db + SPECTROGRAM_FLOOR_DB, vmax=peak_db, rasterized=True)
    axis.set_xlabel("time (s)", fontsize=7)
    axis.set_ylabel("frequency (kHz)", fontsize=7)
    axis.set_title(title, fontsize=8)
    axis.tick_params(labelsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as stream:
        figure.savefig(stream, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path
