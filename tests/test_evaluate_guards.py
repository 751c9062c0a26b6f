"""bench.evaluate refuses to lose data or report a wrong number: its --output, resume keys, all-failed runs."""

from __future__ import annotations

import json
import platform
import shutil

import numpy as np
import pytest

import bench.evaluate as evaluate
from bench.metrics.table import read_table
from tests.dummies.audio import noisy_version, speech_like, write_wav
from tests.test_evaluate import make_dirs, run


@pytest.fixture
def no_scoring(monkeypatch):
    """Fail the test if any utterance is scored."""

    def refuse(*_):
        raise AssertionError("an utterance was scored before the refusal")

    monkeypatch.setattr(evaluate, "score_utterance", refuse)


def two_pairs(root):
    """Clean and enhanced directories of two short scorable pairs."""
    clean_dir, enhanced_dir = root / "clean", root / "enhanced"
    for index in (1, 2):
        clean = speech_like(1.0, seed=index)
        write_wav(clean_dir / f"u{index}.wav", clean)
        write_wav(enhanced_dir / f"u{index}.wav", noisy_version(clean, 5.0, seed=10 + index))
    return clean_dir, enhanced_dir


# 1. --output that is not a metrics table of this tool


@pytest.mark.parametrize("content", [None, b"a,b\n1,2\n", b""])
def test_an_output_that_is_not_a_metrics_table_is_refused_before_scoring(tmp_path, no_scoring, capsys, content):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    target = clean_dir / "u1.wav"
    if content is not None:
        target = tmp_path / "notes.csv"
        target.write_bytes(content)
    before = target.read_bytes()
    assert run(clean_dir, enhanced_dir, target) == 2
    error = capsys.readouterr().err
    assert str(target) in error and "not a metrics table" in error
    assert target.read_bytes() == before


def test_an_output_that_is_a_directory_is_refused_clearly(tmp_path, no_scoring, capsys):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    assert run(clean_dir, enhanced_dir, tmp_path) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} is a directory" in error and "Traceback" not in error


def test_a_summary_path_that_is_not_a_summary_is_refused(tmp_path, no_scoring, capsys):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    summary = tmp_path / "metrics.summary.json"
    summary.write_text("my notes\n")
    assert run(clean_dir, enhanced_dir, tmp_path / "metrics.csv") == 2
    assert str(summary) in capsys.readouterr().err and summary.read_text() == "my notes\n"


def test_merge_refuses_an_output_that_is_a_shard_or_not_a_table(tmp_path, capsys):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    shards = [tmp_path / f"shard{index}.csv" for index in (1, 2)]
    for index, shard in enumerate(shards, start=1):
        assert run(clean_dir, enhanced_dir, shard, "--shard", f"{index}/2") == 0
    before = shards[0].read_text()
    assert evaluate.main(["merge", *map(str, shards), "--output", str(shards[0])]) == 2
    assert "is one of the shards" in capsys.readouterr().err and shards[0].read_text() == before
    assert evaluate.main(["merge", *map(str, shards), "--output", str(clean_dir / "u1.wav")]) == 2
    assert "not a metrics table" in capsys.readouterr().err


# 2. resume keyed to what was scored


def test_a_table_of_other_inputs_is_scored_again_not_resumed(tmp_path, capsys):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    identical = tmp_path / "identical"
    shutil.copytree(clean_dir, identical)
    output = tmp_path / "metrics.csv"
    assert run(clean_dir, enhanced_dir, output) == 0
    noisy_pesq = [row["pesq"] for row in read_table(output)[0]]
    capsys.readouterr()
    assert run(clean_dir, identical, output) == 0
    error = capsys.readouterr().err
    assert "scoring every utterance again" in error and "enhanced_dir" in error
    rows = read_table(output)[0]
    assert all(row["pesq"] > 4.5 for row in rows) and noisy_pesq != [row["pesq"] for row in rows]
    assert json.loads(evaluate.summary_path(output).read_text())["enhanced_dir"] == str(identical)


def test_a_changed_file_or_metric_version_is_scored_again(tmp_path, capsys, monkeypatch):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    output = tmp_path / "metrics.csv"
    assert run(clean_dir, enhanced_dir, output) == 0
    capsys.readouterr()
    write_wav(enhanced_dir / "u2.wav", speech_like(1.0, seed=2))  # now identical to its clean file
    assert run(clean_dir, enhanced_dir, output) == 0
    assert "u2" in capsys.readouterr().err
    assert {row["utterance"]: row["pesq"] for row in read_table(output)[0]}["u2"] > 4.5

    assert run(clean_dir, enhanced_dir, output) == 0  # unchanged: resumed, nothing scored
    assert "resuming: 2 utterances already scored" in capsys.readouterr().err
    versions = evaluate.package_versions()
    monkeypatch.setattr(evaluate, "package_versions", lambda *_: {**versions, "pesq": "9.9"})
    assert run(clean_dir, enhanced_dir, output) == 0
    assert "pesq" in capsys.readouterr().err.split("scoring every utterance again")[0]


def test_a_table_with_no_record_of_its_inputs_is_scored_again(tmp_path, capsys):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    output = tmp_path / "metrics.csv"
    assert run(clean_dir, enhanced_dir, output) == 0
    evaluate.resume_key_path(output).unlink()
    assert run(clean_dir, enhanced_dir, output) == 0
    assert "no record of the inputs it was scored from" in capsys.readouterr().err


# 3. every utterance failed


def test_a_run_where_every_utterance_failed_exits_1(tmp_path, capsys):
    clean_dir, enhanced_dir = tmp_path / "clean", tmp_path / "enhanced"
    write_wav(clean_dir / "u1.wav", speech_like(1.0))
    write_wav(enhanced_dir / "u1.wav", np.zeros(16_000))
    assert run(clean_dir, enhanced_dir, tmp_path / "metrics.csv") == 1
    assert "no utterance was scored ok: 1 failed" in capsys.readouterr().err
    shard = tmp_path / "shard.csv"
    assert run(clean_dir, enhanced_dir, shard, "--shard", "1/1") == 1
    assert evaluate.main(["merge", str(shard), "--output", str(tmp_path / "merged.csv")]) == 1


def test_an_empty_shard_exits_1(tmp_path, capsys):
    clean_dir, enhanced_dir = make_dirs(tmp_path, failures=False)
    assert run(clean_dir, enhanced_dir, tmp_path / "metrics.csv", "--shard", "4/4") == 1
    assert "no utterance" in capsys.readouterr().err


# 9. the per-utterance table is for programs: a formula-like name round-trips verbatim


def test_a_formula_like_utterance_name_round_trips_in_the_per_utterance_table(tmp_path):
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    for directory in (clean_dir, enhanced_dir):
        (directory / "u1.wav").rename(directory / "=HYPERLINK(x).wav")
    output = tmp_path / "metrics.csv"
    assert run(clean_dir, enhanced_dir, output) == 0
    assert [row["utterance"] for row in read_table(output)[0]] == ["=HYPERLINK(x)", "u2"]


def test_a_table_that_is_not_csv_is_refused_so_no_two_tables_share_a_summary(tmp_path, no_scoring, capsys):
    """m.csv and m.tsv would both write m.summary.json and m.resume.json: a wrong summary beside m.csv."""
    clean_dir, enhanced_dir = two_pairs(tmp_path)
    assert run(clean_dir, enhanced_dir, tmp_path / "m.tsv") == 2
    assert "give it a .csv name" in capsys.readouterr().err


def test_the_resume_key_records_the_python_version(tmp_path):
    """"python" is in the metric packages but is no distribution: the key must hold its version, not "absent"."""
    options = evaluate.ScoringOptions(tmp_path, tmp_path, tmp_path / "m.csv")
    key = evaluate.resume_key(options, [], evaluate.columns())
    assert key["versions"]["python"] == platform.python_version()
