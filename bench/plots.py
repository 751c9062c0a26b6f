"""Plots from `results/` (PNG and PDF): the efficiency frontier, per-utterance PESQ improvements,
and how MACs and latency grow with the length of the input."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas  # noqa: E402

from bench.metrics import DEFAULT_VARIANT  # noqa: E402
from bench.pipeline import per_utterance_improvement  # noqa: E402
from bench.results import ORIGIN_INPUT, load_measured  # noqa: E402
from bench.tables import test_set_size, thread_count_label  # noqa: E402
from imse.atomic import atomic_write  # noqa: E402
from imse.frontend import SAMPLE_RATE  # noqa: E402


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
    """Points not beaten by any other with lower cost and higher PESQ, sorted by cost."""
    frontier, best = [], float("-inf")
    for cost, pesq in sorted(points):
        if pesq > best:
            frontier.append((cost, pesq))
            best = pesq
    return frontier


def efficiency_frontier(results: Path, output: Path, dataset: str = "vbdmd-sample") -> list[Path]:
    """PESQ against parameters and against MACs: reported systems and our measurements."""
    reported = pandas.read_csv(results / "reported.csv").dropna(subset=["pesq"])
    complexity = pandas.read_csv(results / "complexity.csv").set_index("model")
    measured = [m for m in load_measured(results)
                if m.variant == DEFAULT_VARIANT and m.origin != ORIGIN_INPUT and m.dataset == dataset]
    figure, (by_parameters, by_macs) = plt.subplots(1, 2, figsize=(11, 4.2))
    points = []
    for record in reported.dropna(subset=["params_m"]).itertuples():
        by_parameters.scatter(record.params_m, record.pesq, marker="o", color="tab:gray")
        by_parameters.annotate(record.system, (record.params_m, record.pesq), fontsize=7, xytext=(3, 2),
                               textcoords="offset points")
        points.append((record.params_m, record.pesq))
    for run in measured:
        model = run.provenance.get("model")
        if model not in complexity.index or run.mean("pesq") is None:
            continue
        parameters = complexity.loc[model, "parameters"] / 1e6
        macs = complexity.loc[model, "macs_1s_fvcore"] / 1e9
        for axis, x in ((by_parameters, parameters), (by_macs, macs)):
            axis.scatter(x, run.mean("pesq"), marker="*", s=90, color="tab:red")
            axis.annotate(f"{run.system} (measured)", (x, run.mean("pesq")), fontsize=7, xytext=(3, -9),
                          textcoords="offset points", color="tab:red")
        points.append((parameters, run.mean("pesq")))
    frontier = _pareto(points)
    by_parameters.plot(*zip(*frontier, strict=True), color="tab:blue", linewidth=1, label="frontier")
    by_parameters.set(xscale="log", xlabel="parameters (M, log scale)", ylabel="wideband PESQ",
                      title=f"PESQ against size (grey: reported on the {test_set_size()} test set)")
    by_macs.set(xlabel="GMACs per second of audio (fvcore)", ylabel="wideband PESQ",
                title=f"PESQ against compute (measured on {dataset})")
    by_parameters.legend(loc="lower right", fontsize=8)
    return _save(figure, output, "efficiency_frontier")


def improvement_distributions(results: Path, output: Path, systems: tuple[str, ...] = ("imse-vb-3.399", "muse-vb"),
                              ) -> list[Path]:
    """Per-utterance PESQ improvement over the noisy input, per system and dataset."""
    measured = {(m.dataset, m.system) for m in load_measured(results) if m.variant == DEFAULT_VARIANT}
    datasets = sorted({dataset for dataset, system in measured if system in systems and (dataset, "noisy") in measured})
    figure, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 4), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=False):
        present = [system for system in systems if (dataset, system) in measured]
        values = [per_utterance_improvement(results, dataset, system) for system in present]
        axis.violinplot(values, showmedians=True)
        axis.axhline(0, color="black", linewidth=0.5)
        labels = [f"{system}\n(n={len(value)})" for system, value in zip(present, values, strict=True)]
        axis.set_xticks(range(1, len(present) + 1), labels)
        axis.set(ylabel="PESQ(enhanced) - PESQ(noisy)", title=dataset)
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
                     color=plt.get_cmap("tab10")(index))
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
        timing.plot(rows["seconds"], rows["latency_median_s"], marker="o", label=model)
    first = frame[frame["model"] == models[0]].iloc[0]
    lengths = sorted(frame["seconds"].unique())
    timing.plot(lengths, [first["latency_median_s"] * length / first["seconds"] for length in lengths],
                linestyle=":", color="gray", label=f"linear from {models[0]} at {first['seconds']} s")
    timing.set(xscale="log", yscale="log", xlabel="input length (s, log)", ylabel="median latency (s, log)",
               title=f"Full-utterance latency, {thread_count_label(first['latency_threads'])}")
    timing.set_xticks(lengths, [str(length) for length in lengths])
    timing.legend(fontsize=8)
    return _save(figure, output, "complexity_scaling")
