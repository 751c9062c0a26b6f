"""bench.tables --table breakdown: per-SNR and per-noise means and gains over noisy, computed here by hand."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import tables
from bench.conditions import Condition
from bench.metrics.statistics import bootstrap_mean_interval
from bench.metrics.table import columns, make_row, write_table
from bench.results import ORIGIN_INPUT, ORIGIN_UPSTREAM, measured_table, provenance_path

REPOSITORY = Path(__file__).resolve().parents[1]
# u1..u6 at 2.5 dB, u7 and u8 at 7.5 dB; u1, u2 and u7 in bus noise, the others in cafe noise.
CONDITIONS = {f"u{i}": Condition(2.5 if i <= 6 else 7.5, "bus" if i in (1, 2, 7) else "cafe") for i in range(1, 9)}


def scores(pesq: float, stoi: float, failed: bool = False) -> dict:
    if failed:
        return {"status": "failed", "reason": "pesq-too-short: short", "variant": "loizou"}
    return {"pesq": pesq, "csig": pesq + 1, "cbak": pesq + 0.5, "covl": pesq + 0.7, "ssnr": 10 * pesq, "stoi": stoi,
            "status": "ok", "variant": "loizou"}


def write_system(results: Path, dataset: str, system: str, origin: str, rows: dict[str, dict],
                 conditions: dict[str, Condition] | None) -> None:
    header = columns(conditions=conditions is not None)
    table = [make_row(u, entry, header, conditions[u] if conditions else None) for u, entry in rows.items()]
    path = measured_table(results, dataset, system, "loizou")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(path, table, header)
    ok = [row for row in table if row["status"] == "ok"]
    summary = {"count": len(table), "ok": len(ok), "failures": len(table) - len(ok),
               "metrics": {"pesq": {"mean": float(np.mean([row["pesq"] for row in ok]))}}}
    path.with_name(f"{system}.loizou.summary.json").write_text(json.dumps(summary))
    provenance = {"system": system, "origin": origin, "dataset": dataset, "command": "by hand", "versions": {}}
    provenance_path(results, dataset, system).write_text(json.dumps(provenance))


@pytest.fixture
def results(tmp_path) -> Path:
    """VB-mini-like data with conditions (noisy, and a system that fails on u8) and a sample without them."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(REPOSITORY / "results" / "reported.csv", results / "reported.csv")
    noisy = {f"u{i}": scores(1.0 + 0.1 * i, 0.80) for i in range(1, 9)}
    system = {f"u{i}": scores(2.0 + 0.2 * i, 0.85 + 0.01 * i, failed=i == 8) for i in range(1, 9)}
    write_system(results, "vb-mini", "noisy", ORIGIN_INPUT, noisy, CONDITIONS)
    write_system(results, "vb-mini", "imse-vb-3.399", ORIGIN_UPSTREAM, system, CONDITIONS)
    write_system(results, "vbdmd-sample", "noisy", ORIGIN_INPUT, {"p232_001": scores(2.0, 0.9)}, None)
    return results


def test_breakdown_means_and_gains_are_those_computed_by_hand(results):
    table = tables.breakdown_table(results)
    frame = table.frame
    assert list(zip(frame["By"], frame["Condition"], frame["System"], strict=True)) == [
        ("SNR (dB)", "2.5", "noisy"), ("SNR (dB)", "2.5", "imse-vb-3.399"),
        ("SNR (dB)", "7.5", "noisy"), ("SNR (dB)", "7.5", "imse-vb-3.399"),
        ("Noise type", "bus", "noisy"), ("Noise type", "bus", "imse-vb-3.399"),
        ("Noise type", "cafe", "noisy"), ("Noise type", "cafe", "imse-vb-3.399")]
    assert set(frame["Data"]) == {"VB-mini test"}
    # noisy PESQ 1.0 + 0.1 i, system 2.0 + 0.2 i (u8 failed): gain 1.0 + 0.1 i; STOI gain 0.05 + 0.01 i
    expected = [  # n, PESQ, Delta PESQ, Delta STOI
        ("6", 1.35, None, None), ("6", 2.7, 1.35, 0.085),
        ("2", 1.75, None, None), ("1 of 2, 1 failed", 3.4, 1.7, 0.12),
        ("3", 4.0 / 3, None, None), ("3", 8.0 / 3, 4.0 / 3, (0.06 + 0.07 + 0.12) / 3),
        ("5", 1.52, None, None), ("4 of 5, 1 failed", 2.9, 1.45, 0.095)]
    for (_, row), (n, pesq, gain, stoi_gain) in zip(frame.iterrows(), expected, strict=True):
        assert row["n"] == n
        assert row["PESQ"] == pytest.approx(pesq, abs=1e-9)
        assert row["CSIG"] == pytest.approx(pesq + 1, abs=1e-9)  # the other measures are means of the same rows
        if gain is None:
            assert math.isnan(row["Delta PESQ"]) and math.isnan(row["Delta STOI"])
        else:
            assert row["Delta PESQ"] == pytest.approx(gain, abs=1e-9)
            assert row["Delta STOI"] == pytest.approx(stoi_gain, abs=1e-9)
    low, high = bootstrap_mean_interval(np.array([2.0 + 0.2 * i for i in range(1, 7)]))
    assert frame.loc[1, "PESQ 95% CI"] == f"[{low:.3f}, {high:.3f}]"
    low, high = bootstrap_mean_interval(np.array([1.0 + 0.1 * i for i in range(1, 7)]))
    assert frame.loc[1, "Delta PESQ 95% CI"] == f"[{low:.3f}, {high:.3f}]"
    assert frame.loc[3, "PESQ 95% CI"] == ""  # one utterance: no interval
    assert any("VB+DEMAND sample (12) (noisy)" in note for note in table.footnotes)


def test_breakdown_renders_in_every_format_and_is_among_all_tables(results, capsys):
    for output_format in tables.FORMATS:
        assert tables.main(["--format", output_format, "--results", str(results), "--table", "breakdown"]) == 0
        text = capsys.readouterr().out
        assert "Noise type" in text and "cafe" in text
        assert "textbf" not in text  # no 'best' across conditions
    assert ",breakdown\n" in tables.write_tables(results, "csv")


def test_a_system_scored_at_other_conditions_than_noisy_is_refused(results, capsys):
    path = measured_table(results, "vb-mini", "noisy", "loizou")
    path.write_text(path.read_text().replace("2.500000,bus", "7.500000,bus", 1))
    assert tables.main(["--results", str(results), "--table", "breakdown"]) == 2
    error = capsys.readouterr().err
    assert "imse-vb-3.399.loizou.csv: u1 is at (2.5, 'bus')" in error
    assert "noisy.loizou.csv has it at (7.5, 'bus')" in error


def test_without_any_condition_columns_the_breakdown_is_left_out_with_a_note(results, capsys):
    shutil.rmtree(results / "measured" / "vb-mini")
    text = tables.write_tables(results, "csv", ["main", "breakdown"])
    assert ",main\n" in text and "breakdown" not in text
    assert "note: table 'breakdown' left out: no measured table has condition columns" in capsys.readouterr().err
