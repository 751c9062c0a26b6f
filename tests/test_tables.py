"""Tables, plots and significance from a real (small) results tree."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.figure
import matplotlib.image
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas
import pytest
from matplotlib.collections import LineCollection

from bench import plots, tables
from bench.metrics.statistics import MIN_SAMPLE
from bench.reproduce import _significance
from tests.dummies.results import SMOKE_BUDGET, write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    results = write_results(root, utterances=MIN_SAMPLE)  # enough pairs for a CI and a p-value
    _significance(results)
    return results


def test_main_table_puts_reported_and_measured_side_by_side(results):
    frame = tables.main_table(results).frame
    imse = frame[frame["System"] == "imse-vb-3.399"].iloc[0]
    assert imse["Origin"] == "measured (upstream checkpoint)"
    assert imse["Params (M)"] == pytest.approx(0.432995)
    assert "Delta PESQ" not in frame.columns  # the sample is not the test set the reported 3.399 is on
    reported = frame[(frame["System"] == "CMGAN") & (frame["Origin"] == "reported")].iloc[0]
    assert reported["PESQ"] == 3.41
    assert frame[frame["System"] == "noisy"]["PESQ"].iloc[0] < imse["PESQ"]


def test_delta_pesq_is_taken_only_on_the_data_the_reported_number_is_on(editable):
    shutil.copytree(editable / "measured" / "vbdmd-sample", editable / "measured" / "vbdmd-test")
    for provenance in (editable / "measured" / "vbdmd-test").glob("*.provenance.json"):
        provenance.write_text(json.dumps({**json.loads(provenance.read_text()), "dataset": "vbdmd-test"}))
    frame = tables.main_table(editable).frame
    on_test = frame[(frame["System"] == "imse-vb-3.399") & (frame["Data"] == "VB+DEMAND test (824)")].iloc[0]
    on_sample = frame[(frame["System"] == "imse-vb-3.399") & (frame["Data"] != "VB+DEMAND test (824)")].iloc[0]
    assert on_test["Delta PESQ"] == pytest.approx(on_test["PESQ"] - 3.399)
    assert pandas.isna(on_sample["Delta PESQ"])
    noisy = frame[(frame["System"] == "noisy") & (frame["Data"] == "VB+DEMAND test (824)")].iloc[0]
    assert noisy["Delta PESQ"] == pytest.approx(noisy["PESQ"] - 1.97)


def _row(text: str, start: str) -> list[str]:
    """The cells of the first markdown or LaTeX table row that starts with `start`."""
    line = next(line for line in text.splitlines() if line.lstrip("| ").startswith(start))
    return [cell.strip() for cell in re.split(r"\||&", line.strip().strip("|").removesuffix("\\\\"))]


def test_missing_values_are_empty_cells_in_every_format(results):
    table = tables.main_table(results)
    mp_senet = table.frame[table.frame["System"] == "MP-SENet (long)"].iloc[0]
    assert pandas.isna(mp_senet["SSNR"])  # not reported
    column = list(table.frame.columns).index("SSNR")
    for output_format in ("markdown", "latex"):
        text = tables.render([table], output_format)
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)
        assert _row(text, "MP-SENet (long)")[column] == ""
    csv_row = next(row for row in csv.DictReader(io.StringIO(tables.render([table], "csv")))
                   if row["System"] == "MP-SENet (long)")
    assert csv_row["SSNR"] == ""


def test_the_best_value_is_marked_only_among_rows_on_the_same_data(results):
    """A sample's 3.6 is not bold above a reported 3.600 on the test set, nor the other way round."""
    table = tables.main_table(results)
    best = tables.best_cells(table)
    frame = table.frame
    for data, rows in frame.groupby("Data"):
        pesq = rows["PESQ"].dropna()
        if len(pesq) > 1:
            assert best.loc[rows.index, "PESQ"].tolist() == (rows["PESQ"] == pesq.max()).tolist(), data
    reported = frame["Origin"] == "reported"
    assert frame.loc[reported & best["PESQ"], "System"].tolist() == ["MP-SENet (long)"]  # 3.60, the reported top
    measured_best = frame.loc[~reported & best["PESQ"], "System"].tolist()
    assert measured_best == ["imse-vb-3.399"]  # the best of the synthetic sample, though below 3.60
    latex = tables.to_latex(table)
    assert "\\textbf{3.600}" in latex
    assert "\\textbf{" + f"{frame.loc[~reported & best['PESQ'], 'PESQ'].iloc[0]:.3f}" + "}" in latex


def test_every_footnote_is_pointed_to_from_a_cell_header_or_the_caption(results):
    for name in ("main", "training", "ablation", "metric-variants", "significance", "complexity"):
        table = tables.build(name, results)
        header, rows = tables.layout(table)
        used = {mark for cell in header + [cell for row in rows for cell in row] for mark in cell.marks}
        used |= set(tables.caption_marks(table))
        assert used == {tables.footnote_mark(i) for i in range(len(table.footnotes))}, name
    main = tables.main_table(results)
    latex = tables.to_latex(main)
    assert "reported$^{a}$" in latex and "measured (input)$^{b}$" in latex and "CSIG$^{c}$" in latex
    markdown = tables.render([main], "markdown")
    assert "| n [d]" in markdown and "- [d] n: the utterances scored ok" in markdown


def test_measured_rows_carry_si_sdr_and_dnsmos_ovrl_and_reported_rows_leave_them_empty(results):
    frame = tables.main_table(results).frame
    for system in ("noisy", "imse-vb-3.399", "muse-vb"):
        summary = json.loads(_summary(results, system).read_text())
        row = frame[frame["System"] == system].iloc[0]
        assert row["SI-SDR"] == summary["metrics"]["si_sdr"]["mean"]
        assert row["DNSMOS OVRL"] == summary["metrics"]["dnsmos_ovrl"]["mean"]
    assert frame[frame["Origin"] == "reported"][["SI-SDR", "DNSMOS OVRL"]].isna().all().all()
    assert frame[frame["System"] == "noisy"]["SI-SDR"].iloc[0] < frame[frame["System"] == "imse-vb-3.399"][
        "SI-SDR"].iloc[0]  # the synthetic "better" output has less noise than the input


def test_summaries_from_before_si_sdr_and_dnsmos_still_render(editable):
    for summary_file in (editable / "measured").glob("*/*.summary.json"):
        summary = json.loads(summary_file.read_text())
        for name in ("estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"):
            summary["metrics"].pop(name, None)
        summary_file.write_text(json.dumps(summary))
    main = tables.main_table(editable)
    assert "SI-SDR" not in main.frame.columns and "DNSMOS OVRL" not in main.frame.columns
    for output_format in tables.FORMATS:
        assert "noisy" in tables.render([main], output_format)


def test_metric_variants_show_the_inflation(results):
    frame = tables.metric_variants_table(results).frame
    assert len(frame) == 4  # noisy and three systems
    assert (frame["CSIG inflation"] > 0).all()


def test_significance_compares_the_official_systems(results):
    frame = tables.significance_table(results).frame
    pesq = frame[(frame["A"] == "imse-vb-3.399") & (frame["B"] == "muse-vb") & (frame["Metric"] == "PESQ")].iloc[0]
    assert pesq["n"] == MIN_SAMPLE and pesq["Mean A - B"] > 0
    assert pesq["95% CI low"] <= pesq["Mean A - B"] <= pesq["95% CI high"]
    assert {"ESTOI", "SI-SDR", "DNSMOS OVRL", "DNSMOS P.808"} <= set(frame["Metric"])  # the newer measures too


def test_latex_is_booktabs_with_bold_best_and_compiles(results, tmp_path):
    output = tmp_path / "tables.tex"
    assert tables.main(["--format", "latex", "--results", str(results), "--output", str(output)]) == 0
    text = output.read_text()
    assert "\\toprule" in text and "\\bottomrule" in text and "\\textbf{" in text
    assert "reported: as published" in text
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended)")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", output.name],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 1000


def test_csv_keeps_each_footnote_and_what_it_explains_in_a_file_beside_it(results, tmp_path):
    output = tmp_path / "main.csv"
    tables.write_tables(results, "csv", ["main", "complexity"], output=output)
    table = tables.main_table(results)
    rows = pandas.read_csv(output, nrows=len(table.frame))  # the first table's rows: numbers stay numbers
    assert rows["PESQ"].dtype.kind == "f" and list(rows["System"]) == list(table.frame["System"])
    written = list(csv.DictReader(io.StringIO(tables.footnotes_path(output).read_text(encoding="utf-8"))))
    main_notes = [row for row in written if row["table"] == "main"]
    assert [row["text"] for row in main_notes] == table.footnotes and table.footnotes
    assert {row["table"] for row in written} == {"main", "complexity"}
    for index, row in enumerate(main_notes):
        labels = [label for label, anchored in table.anchors.items() if anchored == index]
        assert row == {"table": "main", "footnote": tables.footnote_mark(index), "text": table.footnotes[index],
                       "explains": "; ".join(labels) or "the whole table"}
    assert {row["footnote"] for row in main_notes if row["explains"] == "the whole table"} == set(
        tables.caption_marks(table))
    tables.write_tables(results, "csv", ["main"], output=output)  # its own footnotes file is replaced, not refused
    rewritten = csv.DictReader(io.StringIO(tables.footnotes_path(output).read_text(encoding="utf-8")))
    assert {row["table"] for row in rewritten} == {"main"}


def test_latex_typesets_every_special_character_of_a_label(tmp_path):
    """A system name, caption or footnote with LaTeX's special characters compiles, with no character lost."""
    label = r"a\b & 50% $x$ #1 a_b {c} ~d ^e <f> g|h --"
    table = tables.Table("odd", pandas.DataFrame({"System": [label], "PESQ": [3.0]}), label, [label], {label: 0})
    (tmp_path / "odd.tex").write_text(tables.render([table], "latex"))
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended)")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "odd.tex"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]  # unescaped, "^" outside math and a lone backslash are errors
    assert "Missing character" not in (tmp_path / "odd.log").read_text()


@pytest.mark.parametrize("output_format", ["csv", "markdown"])
def test_other_formats_hold_every_table(results, output_format, capsys):
    assert tables.main(["--format", output_format, "--results", str(results)]) == 0
    text = capsys.readouterr().out
    expected = tables.TABLES if output_format == "csv" else ("Reported and measured", "Ablation", "Complexity of",
                                                              "against input length", "How much", "Paired")
    for name in expected:
        assert name in text


def test_complexity_table_gives_exact_counts_and_every_measured_rtf(results):
    table = tables.complexity_table(results)
    frame = table.frame.set_index("Model")
    assert frame.loc["imse", "Params"] == 432_995 and frame.loc["imse", "Params, paper convention"] == 427_619
    rtf = [column for column in frame.columns if column.startswith("RTF ")]
    assert rtf == ["RTF segmented, 1 thread", "RTF segmented, 2 threads", "RTF full, 1 thread", "RTF full, 2 threads"]
    assert frame.loc["muse", rtf].tolist() == [0.3, 0.18, 0.25, 0.15]
    assert "GPU forward, segment (ms)" not in frame.columns  # no GPU measured: no empty column


def test_complexity_table_shows_gpu_time_where_it_was_measured(results, tmp_path):
    measured = tmp_path / "results"
    shutil.copytree(results, measured)
    frame = pandas.read_csv(measured / "complexity.csv")
    frame["gpu_forward_s"], frame["gpu"] = [0.004, 0.006], "NVIDIA H200"
    frame.to_csv(measured / "complexity.csv", index=False)
    table = tables.complexity_table(measured)
    assert table.frame["GPU forward, segment (ms)"].tolist() == pytest.approx([4.0, 6.0])
    assert "NVIDIA H200" in table.footnotes[-1]


def test_complexity_table_has_a_column_per_backend_and_says_why_one_is_empty(results, tmp_path):
    measured = tmp_path / "results"
    shutil.copytree(results, measured)
    frame = pandas.read_csv(measured / "complexity.csv")
    frame["onnxruntime_segmented_1thread_rtf"] = [0.11, None]
    frame["onnx_file_mb"] = [3.54, None]
    frame["onnx_note"] = ["full: the graph is exported at one segment's length (308 frames)",
                          "export refused: the exported graph is 4.2e+00 off; it was not written"]
    frame.to_csv(measured / "complexity.csv", index=False)
    table = tables.complexity_table(measured)
    columns = list(table.frame.columns)
    rtf = [column for column in columns if column.startswith("RTF ")]
    assert rtf[-1] == "RTF segmented, 1 thread, onnxruntime" and len(rtf) == 5  # after torch's four
    assert table.frame["RTF segmented, 1 thread, onnxruntime"].tolist()[0] == 0.11
    assert table.frame["ONNX file (MB)"].tolist()[0] == 3.54
    note = next(footnote for footnote in table.footnotes if footnote.startswith("onnxruntime:"))
    assert "imse: full: the graph is exported at one segment's length (308 frames)" in note
    assert "muse: export refused: the exported graph is 4.2e+00 off." in note  # up to the first ';'


def test_complexity_table_in_latex_prints_counts_whole_and_bolds_the_fastest(results):
    latex = tables.to_latex(tables.complexity_table(results))
    assert "432,995" in latex and "427,619" in latex
    assert "\\textbf{0.100}" in latex and "\\textbf{0.200}" in latex  # full 2 threads and segmented 1 thread


def test_scaling_table_splits_each_length_into_blocks(results):
    frame = tables.scaling_table(results).frame
    assert list(frame["Seconds"]) == [1, 2, 4, 1, 2, 4]
    shares = frame[[column for column in frame.columns if column.endswith("(%)")]]
    assert shares.sum(axis=1).tolist() == pytest.approx([100.0] * 6)
    imse = frame[frame["Model"] == "imse"]
    assert imse["GMACs / s"].tolist() == pytest.approx([4.68 * 16_000 / 16_300] * 3)
    assert imse["attention (%)"].iloc[0] == pytest.approx(100 * 1.0 / 4.68)


def test_a_table_without_its_measurements_is_left_out_with_a_note(results, tmp_path, capsys):
    partial = tmp_path / "results"
    shutil.copytree(results, partial)
    (partial / "complexity_scaling.csv").unlink()
    assert tables.main(["--format", "csv", "--results", str(partial)]) == 0
    captured = capsys.readouterr()
    assert "table 'scaling' left out" in captured.err and "complexity_scaling.csv" in captured.err
    assert "complexity" in captured.out and ",scaling\n" not in captured.out


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plotted(results, tmp_path_factory):
    """The three plots written once: (paths written, figure by file name) from Figure.savefig."""
    output = tmp_path_factory.mktemp("plots")
    figures = {}
    savefig = matplotlib.figure.Figure.savefig

    def recording_savefig(figure, stream, *args, **kwargs):
        # plots write through the atomic writer: ".<name>.<random>.tmp" beside the final file
        figures[Path(stream.name).name[1:].rsplit(".", 2)[0]] = figure
        return savefig(figure, stream, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", recording_savefig)
        written = (plots.efficiency_frontier(results, output) + plots.improvement_distributions(results, output)
                   + plots.complexity_scaling(results, output))
    return written, figures


def ok_pesq(results, system: str) -> dict[str, float]:
    """Per-utterance PESQ of a scored system, read straight from its loizou CSV."""
    with open(results / "measured" / "vbdmd-sample" / f"{system}.loizou.csv", newline="") as stream:
        return {row["utterance"]: float(row["pesq"]) for row in csv.DictReader(stream) if row["status"] == "ok"}


def test_plots_are_readable_png_and_single_page_pdf_files(plotted):
    written, _ = plotted
    names = sorted(path.name for path in written)
    assert names == [f"{name}.{suffix}" for name in ("complexity_scaling", "efficiency_frontier", "pesq_improvement")
                     for suffix in ("pdf", "png")]
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(PNG_SIGNATURE), path
            image = matplotlib.image.imread(path)
            assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400, (path, image.shape)
            drawn = (image[..., :3] < 0.99).any(axis=-1).mean()  # share of pixels that are not white
            assert drawn > 0.01, (path, drawn)
        else:
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path
            assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1, path
            assert b"CreationDate" not in data, path  # the same results give the same bytes


def test_efficiency_frontier_puts_each_measured_system_at_its_macs_and_mean_pesq(plotted, results):
    _, figures = plotted
    _, by_macs = figures["efficiency_frontier.png"].axes
    points = sorted(tuple(offset) for collection in by_macs.collections for offset in collection.get_offsets())
    # GMACs per second from the dummy complexity.csv: imse 4.67, muse 5.35; trained-imse is left out by default
    expected = sorted((macs, float(np.mean(list(ok_pesq(results, system).values()))))
                      for system, macs in (("imse-vb-3.399", 4.67), ("muse-vb", 5.35)))
    np.testing.assert_allclose(points, expected, rtol=1e-12)
    assert sorted(text.get_text() for text in by_macs.texts) == ["imse-vb-3.399 (measured)", "muse-vb (measured)"]
    caption = " ".join(text.get_text() for text in figures["efficiency_frontier.png"].texts)
    assert "smoke-trained models are left out" in caption


def test_the_frontier_joins_reported_points_only_and_labels_never_overlap(plotted, results, tmp_path, monkeypatch):
    _, figures = plotted
    figure = figures["efficiency_frontier.png"]
    by_parameters, _ = figure.axes
    reported = pandas.read_csv(results / "reported.csv").dropna(subset=["pesq", "params_m"])
    (frontier,) = by_parameters.lines
    on_frontier = set(zip(frontier.get_xdata(), frontier.get_ydata(), strict=True))
    assert on_frontier <= set(zip(reported["params_m"], reported["pesq"], strict=True))
    # by hand from reported.csv: GTCRN (0.05, 2.87) -> IMSE (0.427, 3.399) -> CMGAN (1.83, 3.41) -> MP-SENet ...
    assert sorted(on_frontier)[:3] == [(0.05, 2.87), (0.427, 3.399), (1.83, 3.41)]
    boxes_by_axis, figures_with_trained = [], []
    savefig = matplotlib.figure.Figure.savefig

    def measuring_savefig(figure, *args, **kwargs):  # the label boxes as drawn, before saving resizes the figure
        figure.canvas.draw()  # places the annotations
        renderer = figure.canvas.get_renderer()
        boxes_by_axis.append([[(text.get_text(), matplotlib.text.Text.get_window_extent(text, renderer))
                               for text in axis.texts] for axis in figure.axes])  # the text alone, no leader line
        figures_with_trained.append(figure)
        return savefig(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", measuring_savefig)
    plots.efficiency_frontier(results, tmp_path, include_trained=True)
    assert "trained-imse (measured)" in [text.get_text() for text in figures_with_trained[0].axes[1].texts]
    for boxes in boxes_by_axis[0]:
        assert len(boxes) > 1
        for first in range(len(boxes)):
            for second in range(first + 1, len(boxes)):
                assert not boxes[first][1].overlaps(boxes[second][1]), (boxes[first], boxes[second])


def test_improvement_violins_span_each_systems_per_utterance_gains(plotted, results):
    _, figures = plotted
    (axis,) = figures["pesq_improvement.png"].axes
    labels = [label.get_text() for label in axis.get_xticklabels()]
    assert labels == [f"imse-vb-3.399\n(n={MIN_SAMPLE})", f"muse-vb\n(n={MIN_SAMPLE})"]
    noisy = ok_pesq(results, "noisy")
    for position, system in enumerate(("imse-vb-3.399", "muse-vb"), start=1):
        gains = [pesq - noisy[utterance] for utterance, pesq in ok_pesq(results, system).items()]
        horizontal = sorted(  # the min, median and max markers of this violin
            segment[0][1] for collection in axis.collections if isinstance(collection, LineCollection)
            for segment in collection.get_segments()
            if segment[0][1] == segment[1][1] and segment[0][0] < position < segment[1][0]
        )
        assert horizontal == pytest.approx([min(gains), float(np.median(gains)), max(gains)])


def test_complexity_scaling_stacks_macs_per_second_and_plots_latency(plotted):
    _, figures = plotted
    by_block, timing = figures["complexity_scaling.png"].axes
    stacks: dict[float, float] = {}
    for bar in by_block.patches:
        stacks[bar.get_x() + bar.get_width() / 2] = stacks.get(bar.get_x() + bar.get_width() / 2, 0) + bar.get_height()
    # the dummy table: imse 4.68 and muse 5.22 GMACs per 16,300 samples, three lengths each, a gap between models
    per_second = {"imse": 4.68 * 16_000 / 16_300, "muse": 5.22 * 16_000 / 16_300}
    assert sorted(stacks) == [0, 1, 2, 4, 5, 6]
    assert [stacks[x] for x in sorted(stacks)] == pytest.approx([per_second["imse"]] * 3 + [per_second["muse"]] * 3)
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in timing.lines}
    assert lines["imse"] == ([1, 2, 4], pytest.approx([0.2, 0.4, 0.8]))
    assert lines["muse"] == ([1, 2, 4], pytest.approx([0.3, 0.6, 1.2]))


def test_write_tables_is_the_library_under_the_command(results, tmp_path):
    with pytest.raises(tables.TablesError, match="reported.csv not found"):
        tables.write_tables(tmp_path)
    text = tables.write_tables(results, "csv", ["main", "significance"], output=tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text and ",main\n" in text and ",ablation\n" not in text


@pytest.mark.parametrize("selection", [["--table", "main", "significance"],
                                       ["--table", "main", "--table", "significance"]])
def test_imse_bench_dispatches_to_the_module_and_table_selection_takes_both_styles(results, selection, capsys):
    from bench.cli import main as imse_bench

    assert imse_bench(["tables", "--format", "csv", "--results", str(results), *selection]) == 0
    text = capsys.readouterr().out
    assert text == tables.write_tables(results, "csv", ["main", "significance"])


@pytest.fixture
def editable(results, tmp_path):
    """A copy of the results tree that a test may damage."""
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    return copy


def _summary(results, system="muse-vb", variant="loizou"):
    return results / "measured" / "vbdmd-sample" / f"{system}.{variant}.summary.json"


# 4. every measured row says over how many utterances its means are


def test_measured_rows_carry_n_and_failures(editable):
    for variant in ("loizou", "upstream-float"):
        path = _summary(editable, variant=variant)
        summary = json.loads(path.read_text())
        summary.update(ok=2, failures=4, count=6)
        path.write_text(json.dumps(summary))
    main = tables.main_table(editable).frame.set_index("System")
    assert main.loc["muse-vb", "n"] == "2 of 6, 4 failed" and main.loc["noisy", "n"] == str(MIN_SAMPLE)
    assert (main[main["Origin"] == "reported"]["n"] == "").all()
    variants = tables.metric_variants_table(editable).frame.set_index("System")
    assert variants.loc["muse-vb", "n"] == "2 of 6, 4 failed"
    assert "n = 6" not in tables.to_latex(tables.main_table(editable))  # the column says it, not a label


# 7. a broken results file is named, with its problem


@pytest.mark.parametrize(("relative", "text", "problem"), [
    ("measured/vbdmd-sample/muse-vb.loizou.summary.json", '{"count": 6, "ok"', "not valid JSON"),
    ("measured/vbdmd-sample/muse-vb.loizou.summary.json", '{"count": 6}', "metrics"),
    ("measured/vbdmd-sample/muse-vb.provenance.json", '{"system": "muse', "not valid JSON"),
    ("measured/vbdmd-sample/muse-vb.provenance.json", "[1, 2]", "not a JSON object"),
    ("complexity.csv", "model,params\nimse,1\n", "parameters"),
    ("complexity.csv", "", "empty"),
    ("complexity.csv", "model,parameters,parameters_paper_convention,macs_1s_fvcore,macs_1s_ptflops,"
                       "macs_segment_fvcore,machine,cpu_count\nimse,many,1,1,1,1,x,2\n", "not numeric"),
    ("complexity_scaling.csv", "model,seconds\nimse,1\n", "macs"),
    ("significance.json", '[{"system_a": "x"', "not valid JSON"),
    ("significance.json", '{"system_a": "x"}', "a list"),
    ("significance.json", '[{"system_a": "x", "system_b": "y", "dataset": "d"}]', "metrics"),
    ("reported.csv", "system,params_m,pesq\nIMSE,0.4,3.3\n", "csig"),
])
def test_a_broken_results_file_is_named_with_its_problem(editable, capsys, relative, text, problem):
    (editable / relative).write_text(text)
    assert tables.main(["--format", "csv", "--results", str(editable)]) == 2
    error = capsys.readouterr().err
    assert str(editable / relative) in error and problem in error and "Traceback" not in error


def test_a_table_without_its_summary_is_refused_not_dropped(editable, capsys):
    """A missing summary used to make the system's row vanish from every table, exit 0."""
    _summary(editable, system="imse-vb-3.399").unlink()
    assert tables.main(["--format", "csv", "--results", str(editable)]) == 2
    error = capsys.readouterr().err
    assert "imse-vb-3.399.loizou.csv" in error and "summary imse-vb-3.399.loizou.summary.json is missing" in error


# 9. names that a spreadsheet would run as formulas


def test_csv_export_neutralises_formula_like_cells(editable, capsys):
    measured = editable / "measured" / "vbdmd-sample"
    for variant in ("loizou", "upstream-float"):
        for suffix in ("summary.json", "csv"):
            shutil.copy(measured / f"muse-vb.{variant}.{suffix}", measured / f"=HYPERLINK(x).{variant}.{suffix}")
    provenance = json.loads((measured / "muse-vb.provenance.json").read_text())
    (measured / "=HYPERLINK(x).provenance.json").write_text(json.dumps({**provenance, "system": "=HYPERLINK(x)"}))
    assert tables.main(["--format", "csv", "--results", str(editable)]) == 0
    cells = [cell for row in csv.reader(io.StringIO(capsys.readouterr().out)) for cell in row]
    assert "'=HYPERLINK(x)" in cells
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@"):
            float(cell)  # only numbers may start so: a negative delta, say
    assert tables.neutralise("-1.5") == "'-1.5" and tables.neutralise("@x") == "'@x" and tables.neutralise("ok") == "ok"


@pytest.mark.parametrize("target", ["reported.csv", "significance.json", "measured/vbdmd-sample/noisy.loizou.csv",
                                    "."])
def test_an_output_onto_a_results_input_or_a_directory_is_refused(editable, capsys, target):
    path = editable / target
    before = path.read_bytes() if path.is_file() else None
    assert tables.main(["--format", "csv", "--results", str(editable), "--output", str(path)]) == 2
    assert str(path) in capsys.readouterr().err
    assert before is None or path.read_bytes() == before


@pytest.fixture(scope="module")
def with_gtcrn(tmp_path_factory):
    """The dummy tree with GTCRN as a third official system: no segments, no block split, no training row."""
    root = tmp_path_factory.mktemp("gtcrn")
    results = write_results(root, utterances=MIN_SAMPLE, gtcrn=True)
    _significance(results)
    return results


def test_tables_and_plots_take_gtcrn_as_a_third_system(with_gtcrn, tmp_path):
    main = tables.main_table(with_gtcrn).frame
    assert main[(main["System"] == "GTCRN") & (main["Origin"] == "reported")]["PESQ"].iloc[0] == 2.87
    assert "gtcrn" not in set(tables.ablation_table(with_gtcrn).frame["Model"])
    complexity = tables.complexity_table(with_gtcrn)
    gtcrn = complexity.frame[complexity.frame["Model"] == "gtcrn"].iloc[0]
    assert pandas.isna(gtcrn["GMACs / segment"]) and gtcrn["GMACs / 1 s"] == pytest.approx(0.029072896)
    notes = " ".join(complexity.footnotes)
    assert "GTCRN: 23,700 parameters, 33 MMACs/s" in notes and "64 frames for gtcrn" in notes
    scaling = tables.scaling_table(with_gtcrn).frame
    assert scaling[scaling["Model"] == "gtcrn"]["attention (%)"].isna().all()
    significance = tables.significance_table(with_gtcrn).frame
    assert ((significance["A"] == "imse-vb-3.399") & (significance["B"] == "gtcrn-vb")).any()
    assert tables.write_tables(with_gtcrn, "markdown")


def test_the_scaling_plot_shows_gtcrns_total_as_one_bar_and_the_frontier_places_it(with_gtcrn, tmp_path, monkeypatch):
    figures = []
    savefig = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda figure, *args, **kwargs: figures.append(figure) or savefig(figure, *args, **kwargs))
    plots.complexity_scaling(with_gtcrn, tmp_path)
    plots.efficiency_frontier(with_gtcrn, tmp_path)  # each figure is saved twice: PNG, then PDF
    by_block, _ = figures[0].axes
    unsplit = [bar.get_height() for bar in by_block.patches[-3:]]  # the last block drawn, GTCRN's three lengths
    assert unsplit == pytest.approx([28_692_864 * 16_000 / 16_300 / 1e9] * 3)
    _, by_macs = figures[2].axes
    assert "gtcrn-vb (measured)" in [text.get_text() for text in by_macs.texts]
    _, timing = figures[0].axes  # latencies from 0.05 to 1.2 s: minor labels would print on each other
    assert isinstance(timing.yaxis.get_minor_formatter(), matplotlib.ticker.NullFormatter)


def test_an_output_that_is_not_tables_of_this_tool_is_refused(results, tmp_path, capsys):
    """Someone's notes, a metrics table or a WAV is never replaced; the tool's own output is."""
    for name, content in (("notes.txt", "mine\n"), ("m.csv", "utterance,pesq\nu1,3.1\n"), ("a.wav", "RIFF")):
        path = tmp_path / name
        path.write_text(content)
        assert tables.main(["--format", "csv", "--results", str(results), "--output", str(path)]) == 2
        assert "is not tables written by bench.tables" in capsys.readouterr().err
        assert path.read_text() == content
    for output_format in ("csv", "markdown", "latex"):
        own = tmp_path / f"tables.{output_format}"
        for _ in range(2):  # written, then rewritten
            assert tables.main(["--format", output_format, "--table", "complexity", "--results", str(results),
                                "--output", str(own)]) == 0
    assert tables.main(["--format", "csv", "--results", str(results), "--output", "/proc/tables.csv"]) == 2
    assert "cannot be written" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["empty provenance", "provenance of another system", "table removed"])
def test_a_damaged_provenance_or_a_missing_table_is_named(results, tmp_path, capsys, damage):
    """A provenance record with no origin used to turn the row into "measured (unknown)" in silence."""
    editable = tmp_path / "results"
    shutil.copytree(results, editable)
    provenance = editable / "measured" / "vbdmd-sample" / "imse-vb-3.399.provenance.json"
    if damage == "empty provenance":
        provenance.write_text("{}\n")
    elif damage == "provenance of another system":
        provenance.write_text(json.dumps({**json.loads(provenance.read_text()), "system": "muse-vb"}))
    else:
        (editable / "measured" / "vbdmd-sample" / "imse-vb-3.399.loizou.csv").unlink()
    assert tables.main(["--format", "csv", "--results", str(editable)]) == 2
    error = capsys.readouterr().err
    named = "imse-vb-3.399.provenance.json" if "provenance" in damage else "imse-vb-3.399.loizou.summary.json"
    assert named in error


# 8. trained rows say what they are: their budget, and where they stand against the noisy input


def _paired_gain(results, system, metric="pesq"):
    """Mean of metric(system) - metric(noisy) over utterances ok for both, from the per-utterance CSVs."""
    def ok(name):
        frame = pandas.read_csv(results / "measured" / "vbdmd-sample" / f"{name}.loizou.csv").set_index("utterance")
        return frame[frame["status"] == "ok"][metric]
    system_scores, noisy_scores = ok(system), ok("noisy")
    both = system_scores.index.intersection(noisy_scores.index)
    return float((system_scores[both] - noisy_scores[both]).mean())


def test_trained_rows_leave_the_main_table_for_the_training_table_with_their_budget(results):
    assert "trained-imse" not in set(tables.main_table(results).frame["System"])
    table = tables.training_table(results)
    row = table.frame.set_index("System").loc["trained-imse"]
    assert row["Budget"] == "smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini"
    assert row["Minutes"] == 6.5
    assert row["Delta PESQ"] == pytest.approx(_paired_gain(results, "trained-imse"))
    assert row["Delta STOI"] == pytest.approx(_paired_gain(results, "trained-imse", "stoi"))
    assert not tables.best_cells(table).to_numpy().any()  # budgets differ: no row is ranked above another
    cells = _row(tables.render([table], "markdown"), "trained-imse")
    assert cells[2] == "6.5" and cells[5] == f"{row['PESQ']:.3f}"  # a 3-decimal PESQ stays 3 decimals


def test_ablation_compares_only_runs_under_one_budget_and_names_the_others(editable):
    budget = json.loads((editable / "measured" / "vbdmd-sample" / "trained-imse.provenance.json").read_text())
    for system, model, steps, init in (("trained-muse", "muse", 100, None),
                                       ("trained-imse-taylor", "imse-taylor", 5000, None),
                                       ("trained-imse-de", "imse-de", 100, "imse-vb-3.399")):
        for variant in ("loizou", "upstream-float"):
            for suffix in (".csv", ".summary.json"):
                source = editable / "measured" / "vbdmd-sample" / f"trained-imse.{variant}{suffix}"
                shutil.copy(source, source.with_name(f"{system}.{variant}{suffix}"))
        record = {**budget, "system": system, "model": model, "budget": {**budget["budget"], "steps": steps},
                  "init": init}
        (editable / "measured" / "vbdmd-sample" / f"{system}.provenance.json").write_text(json.dumps(record))
    table = tables.ablation_table(editable)
    # a fine-tuned run has the same budget as the smoke runs but did not start from random weights
    assert sorted(table.frame["Weights"].loc[lambda weights: weights != ""]) == ["trained-imse", "trained-muse"]
    assert "smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini" in table.footnotes[1]
    assert table.footnotes[-1] == (
        "Left out, trained under another budget, from other weights than random, or with no budget recorded (see "
        "the training table): trained-imse-taylor (vbdmd-sample), trained-imse-de (vbdmd-sample, fine-tuned from "
        "imse-vb-3.399).")
    imse = table.frame.set_index("Weights").loc["trained-imse"]
    assert imse["Delta PESQ"] == pytest.approx(_paired_gain(editable, "trained-imse"))
    training = tables.training_table(editable).frame.set_index("System")
    assert training.loc["trained-imse-taylor", "Budget"] == (
        "smoke: 5000 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini")
    assert training.loc["trained-imse-de", "Budget"] == (
        "smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini, fine-tuned from imse-vb-3.399")


def test_a_run_at_another_learning_rate_is_another_budget(editable):
    source = editable / "measured" / "vbdmd-sample" / "trained-imse.provenance.json"
    record = json.loads(source.read_text())
    for variant in ("loizou", "upstream-float"):
        for suffix in (".csv", ".summary.json"):
            original = editable / "measured" / "vbdmd-sample" / f"trained-imse.{variant}{suffix}"
            shutil.copy(original, original.with_name(f"trained-muse.{variant}{suffix}"))
    record = {**record, "system": "trained-muse", "model": "muse",
              "budget": {**record["budget"], "learning_rate": 1e-4}}
    source.with_name("trained-muse.provenance.json").write_text(json.dumps(record))
    ablation = tables.ablation_table(editable)
    shown = list(ablation.frame["Weights"].loc[lambda weights: weights != ""])
    assert len(shown) == 1  # the two runs differ in learning rate alone: never in one comparison
    other = ({"trained-imse", "trained-muse"} - set(shown)).pop()
    assert ablation.footnotes[-1].endswith(f"(see the training table): {other} (vbdmd-sample).")
    training = tables.training_table(editable).frame.set_index("System")
    assert training.loc["trained-muse", "Budget"] == (
        "smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0001, on vb-mini")


def test_a_trained_row_without_a_recorded_budget_says_so_and_is_counted(editable):
    path = editable / "measured" / "vbdmd-sample" / "trained-imse.provenance.json"
    path.write_text(json.dumps({key: value for key, value in json.loads(path.read_text()).items() if key != "budget"}))
    table = tables.training_table(editable)
    assert table.frame.set_index("System").loc["trained-imse", "Budget"] == "not recorded (smoke profile)"
    assert "1 row(s) scored before budgets were recorded" in table.footnotes[-1]
    assert (tables.ablation_table(editable).frame["Weights"] != "trained-imse").all()


def _edit_csv(path, change):
    frame = pandas.read_csv(path)
    change(frame)
    frame.to_csv(path, index=False)


def test_gains_are_over_the_pairs_both_scored_and_a_condition_mismatch_is_refused(editable):
    sample = editable / "measured" / "vbdmd-sample"
    _edit_csv(sample / "noisy.loizou.csv", lambda frame: frame.__setitem__("status", ["failed", *frame["status"][1:]]))
    row = tables.training_table(editable).frame.set_index("System").loc["trained-imse"]
    assert (row["n"], row["n paired"]) == (str(MIN_SAMPLE), MIN_SAMPLE - 1)
    assert row["Delta PESQ"] == pytest.approx(_paired_gain(editable, "trained-imse"))  # over the ok pairs only
    _edit_csv(sample / "trained-imse.loizou.csv",
              lambda frame: frame.__setitem__("snr_db", [99.0, *frame["snr_db"][1:]]))
    with pytest.raises(tables.TablesError, match="is at .*99.* but .*noisy.loizou.csv has it at"):
        tables.training_table(editable)


@pytest.mark.parametrize(("budget", "problem"), [
    ("smoke", "not str"), ({}, "missing"), ({**SMOKE_BUDGET.as_record(), "gpu": "h200"}, "unknown .'gpu'."),
    ({**SMOKE_BUDGET.as_record(), "steps": -5}, "steps is -5"),
    ({**SMOKE_BUDGET.as_record(), "step_minutes": "fast"}, "step_minutes is 'fast'"),
])
def test_a_malformed_budget_is_refused_naming_its_file(editable, budget, problem):
    path = editable / "measured" / "vbdmd-sample" / "trained-imse.provenance.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "budget": budget}))
    with pytest.raises(tables.TablesError, match=f"trained-imse.provenance.json: .*{problem}"):
        tables.training_table(editable)


def test_ablation_takes_each_rows_budget_from_its_own_data_and_says_how_a_tie_was_settled(editable):
    shutil.copytree(editable / "measured" / "vbdmd-sample", editable / "measured" / "vb-mini")
    for provenance in (editable / "measured" / "vb-mini").glob("*.provenance.json"):
        record = {**json.loads(provenance.read_text()), "dataset": "vb-mini"}
        if record["system"] == "trained-imse":
            record["budget"] = None  # this one row only: the sample's trained-imse keeps its budget
        provenance.write_text(json.dumps(record))
    table = tables.ablation_table(editable)
    shown = table.frame[table.frame["Weights"] == "trained-imse"]
    assert shown["Data"].tolist() == [tables._dataset_label("vbdmd-sample")]  # vb-mini's, budget-less, left out
    assert table.footnotes[-1].endswith("trained-imse (vb-mini).")
    sample = editable / "measured" / "vbdmd-sample"
    for system, model, steps in (("trained-imse-taylor", "imse-taylor", 5000),):
        for variant in ("loizou", "upstream-float"):
            for suffix in (".csv", ".summary.json"):
                source = sample / f"trained-imse.{variant}{suffix}"
                shutil.copy(source, source.with_name(f"{system}.{variant}{suffix}"))
        record = json.loads((sample / "trained-imse.provenance.json").read_text())
        record.update(system=system, model=model, budget={**record["budget"], "steps": steps})
        (sample / f"{system}.provenance.json").write_text(json.dumps(record))
    table = tables.ablation_table(editable)  # one model at 100 steps, one at 5000: a tie, settled by steps
    assert "smoke: 5000 steps" in table.footnotes[1] and "chosen among 2 budgets" in table.footnotes[1]
    assert table.frame.loc[table.frame["Weights"] != "", "Weights"].tolist() == ["trained-imse-taylor"]


def test_complexity_table_says_so_when_no_model_was_exported(results, tmp_path):
    measured = tmp_path / "results"
    shutil.copytree(results, measured)
    frame = pandas.read_csv(measured / "complexity.csv")
    frame["onnx_file_mb"] = [None, None]
    frame["onnx_note"] = ['ONNX export and the onnxruntime backend need onnxruntime: pip install -e ".[onnx]"'] * 2
    frame.to_csv(measured / "complexity.csv", index=False)
    table = tables.complexity_table(measured)
    assert "ONNX file (MB)" not in table.frame.columns
    note = next(footnote for footnote in table.footnotes if footnote.startswith("onnxruntime:"))
    assert note.startswith("onnxruntime: no model was exported, so its columns are left out.")
    assert "imse, muse: ONNX export and the onnxruntime backend need onnxruntime" in note
