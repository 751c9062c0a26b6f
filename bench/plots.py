"""Plots from `results/`: the efficiency frontier and per-utterance PESQ improvements (PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas  # noqa: E402

from bench.pipeline import per_utterance_improvement  # noqa: E402
from bench.results import ORIGIN_INPUT, load_measured  # noqa: E402


def _save(figure: plt.Figure, output: Path, name: str) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / f"{name}.png", output / f"{name}.pdf"]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight")
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
                if m.variant == "loizou" and m.origin != ORIGIN_INPUT and m.dataset == dataset]
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
                      title="PESQ against size (grey: reported on the 824 test set)")
    by_macs.set(xlabel="GMACs per second of audio (fvcore)", ylabel="wideband PESQ",
                title=f"PESQ against compute (measured on {dataset})")
    by_parameters.legend(loc="lower right", fontsize=8)
    return _save(figure, output, "efficiency_frontier")


def improvement_distributions(results: Path, output: Path, systems: tuple[str, ...] = ("imse-vb-3.399", "muse-vb"),
                              ) -> list[Path]:
    """Per-utterance PESQ improvement over the noisy input, per system and dataset."""
    measured = {(m.dataset, m.system) for m in load_measured(results) if m.variant == "loizou"}
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
