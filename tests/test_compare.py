"""Paired comparison of two metrics tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from bench.compare import CompareError, main, paired_comparison
from bench.metrics import METRICS
from bench.metrics.statistics import MIN_SAMPLE, bootstrap_mean_interval, describe, paired_difference
from bench.metrics.table import TableError, columns, make_row, write_table


def table(path, values: dict[str, dict], variant="loizou", failed=()):
    rows = []
    for utterance, scores in values.items():
        status = "failed" if utterance in failed else "ok"
        entry = {name: (math.nan if status == "failed" else scores[name]) for name in METRICS}
        entry.update(status=status, reason="pesq-too-short: x" if status == "failed" else "", variant=variant)
        rows.append(make_row(utterance, entry, columns()))
    write_table(path, rows, columns())
    return path


@pytest.fixture
def systems(tmp_path):
    rng = np.random.default_rng(1)
    base = {f"u{index:02d}": {name: float(rng.uniform(1, 4)) for name in METRICS} for index in range(30)}
    better = {
        utterance: {name: value + 0.2 + float(rng.normal(0, 0.1)) for name, value in scores.items()}
        for utterance, scores in base.items()
    }
    del better["u29"]  # only in A
    a = table(tmp_path / "a.csv", better, failed={"u00"})
    b = table(tmp_path / "b.csv", base, failed={"u01"})
    return a, b, better, base


def test_paired_statistics_over_utterances_ok_in_both(systems):
    a, b, better, base = systems
    comparison = paired_comparison(a, b)
    paired = [f"u{index:02d}" for index in range(2, 29)]
    assert comparison["paired_utterances"] == 27 and comparison["failed_in_either"] == 2
    assert comparison["only_in_a"] == 0 and comparison["only_in_b"] == 1
    assert comparison["difference"] == "a - b" and comparison["variant"] == "loizou"
    for name in METRICS:
        first = np.array([round(better[u][name], 6) for u in paired])
        second = np.array([round(base[u][name], 6) for u in paired])
        stats = comparison["metrics"][name]
        assert stats["n"] == 27
        assert stats["mean_difference"] == pytest.approx((first - second).mean(), abs=1e-12)
        assert stats["wilcoxon_p"] == pytest.approx(wilcoxon(first, second).pvalue)
        assert stats["wilcoxon_p"] < 1e-4
        low, high = stats["ci95"]
        assert 0.1 < low < stats["mean_difference"] < high < 0.3
        assert [low, high] == list(bootstrap_mean_interval(first - second))


def test_reversed_order_flips_the_sign(systems):
    a, b, _, _ = systems
    forward = paired_comparison(a, b)["metrics"]["pesq"]
    backward = paired_comparison(b, a)["metrics"]["pesq"]
    assert backward["mean_difference"] == pytest.approx(-forward["mean_difference"])
    assert backward["wilcoxon_p"] == pytest.approx(forward["wilcoxon_p"])


def test_identical_systems_have_no_wilcoxon_p():
    stats = paired_difference(np.ones(8), np.ones(8))
    assert stats["mean_difference"] == 0.0 and math.isnan(stats["wilcoxon_p"]) and "nonzero" in stats["note"]


def test_bootstrap_is_seeded_and_sane():
    values = np.random.default_rng(3).normal(1.0, 1.0, 200)
    assert bootstrap_mean_interval(values) == bootstrap_mean_interval(values)
    low, high = bootstrap_mean_interval(values)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half_width, abs=0.03)
    assert high == pytest.approx(values.mean() + half_width, abs=0.03)
    assert all(math.isnan(bound) for bound in bootstrap_mean_interval(np.array([])))


def test_different_variants_are_refused(tmp_path, systems):
    a, _, better, _ = systems
    other = table(tmp_path / "float.csv", better, variant="upstream-float")
    with pytest.raises(TableError, match="different composite variants"):
        paired_comparison(a, other)


def test_command_line_prints_and_writes_json(systems, tmp_path, capsys):
    a, b, _, _ = systems
    output = tmp_path / "comparison.json"
    assert main([str(a), str(b), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "27 paired" in printed and "Wilcoxon" in printed and "csig" in printed
    assert json.loads(output.read_text()) == json.loads(json.dumps(paired_comparison(a, b)))
    assert main([str(a), str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_one_pair_gives_no_interval_and_no_p_value(tmp_path, capsys):
    a = table(tmp_path / "a.csv", {"u1": dict.fromkeys(METRICS, 2.0)})
    b = table(tmp_path / "b.csv", {"u1": dict.fromkeys(METRICS, 1.0)})
    stats = paired_comparison(a, b)["metrics"]["pesq"]
    assert stats["n"] == 1 and stats["mean_difference"] == 1.0
    assert all(math.isnan(bound) for bound in stats["ci95"]) and math.isnan(stats["wilcoxon_p"])
    assert f"fewer than {MIN_SAMPLE}" in stats["note"]
    assert main([str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "n/a" in printed and f"fewer than {MIN_SAMPLE} pairs" in printed
    assert "nan" not in printed


def test_wilcoxon_needs_the_minimum_of_nonzero_differences():
    first = np.arange(10, dtype=float)
    second = first.copy()
    second[:2] -= 1.0  # two differences, eight ties
    stats = paired_difference(first, second)
    assert math.isnan(stats["wilcoxon_p"]) and "nonzero" in stats["note"]
    assert all(math.isfinite(bound) for bound in stats["ci95"])  # ten pairs are enough for the interval


def test_summaries_give_no_interval_below_the_minimum():
    assert all(math.isnan(bound) for bound in describe(np.array([3.0]))["ci95"])
    assert all(math.isfinite(bound) for bound in describe(np.arange(float(MIN_SAMPLE)))["ci95"])


def test_disjoint_tables_are_refused_with_the_counts(tmp_path, capsys):
    a = table(tmp_path / "a.csv", {"u1": dict.fromkeys(METRICS, 2.0), "u2": dict.fromkeys(METRICS, 2.0)})
    b = table(tmp_path / "b.csv", {"v1": dict.fromkeys(METRICS, 1.0)})
    assert main([str(a), str(b)]) == 2
    error = capsys.readouterr().err
    assert "no utterance is ok in both" in error and "only in A 2, only in B 1" in error
    with pytest.raises(CompareError):
        paired_comparison(a, b)


def test_the_report_counts_paired_and_unpaired_utterances(systems, capsys):
    a, b, _, _ = systems
    assert main([str(a), str(b)]) == 0
    assert "27 paired (ok in both), 2 failed in either, only in A 0, only in B 1" in capsys.readouterr().out


def test_an_output_onto_a_table_or_another_file_is_refused(systems, tmp_path, capsys):
    a, b, _, _ = systems
    before = a.read_text()
    assert main([str(a), str(b), "--output", str(a)]) == 2
    assert str(a) in capsys.readouterr().err and a.read_text() == before
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}\n')
    assert main([str(a), str(b), "--output", str(notes)]) == 2
    assert "not a comparison" in capsys.readouterr().err and notes.read_text() == '{"mine": 1}\n'
    assert main([str(a), str(b), "--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    good = tmp_path / "comparison.json"
    assert main([str(a), str(b), "--output", str(good)]) == 0 and main([str(a), str(b), "--output", str(good)]) == 0
