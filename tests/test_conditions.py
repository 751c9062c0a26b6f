"""Conditions files (id,snr_db,noise_type): round trip, every refusal, and bench.evaluate --conditions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.evaluate as evaluate
from bench.conditions import Condition, ConditionsError, conditions_of, read_conditions, write_conditions
from bench.metrics.table import TableError, columns, make_row, read_table, write_table
from tests.dummies.audio import noisy_version, speech_like, write_wav

CONDITIONS = {"p232_001": Condition(2.5, "living"), "p232_002": Condition(-5.0, "cafe, busy"),
              "p232_003": Condition(17.5, "bus")}


def test_a_conditions_file_round_trips_exactly(tmp_path):
    path = tmp_path / "conditions.csv"
    write_conditions(path, CONDITIONS)
    assert path.read_text().splitlines() == ["id,snr_db,noise_type", "p232_001,2.5,living",
                                             'p232_002,-5.0,"cafe, busy"', "p232_003,17.5,bus"]
    assert read_conditions(path) == CONDITIONS


def test_a_spreadsheet_saved_conditions_file_reads(tmp_path):
    """Excel's "CSV UTF-8": a byte-order mark and CRLF line ends."""
    path = tmp_path / "conditions.csv"
    path.write_bytes(b"\xef\xbb\xbfid,snr_db,noise_type\r\np232_003,17.5,bus\r\n")
    assert read_conditions(path) == {"p232_003": Condition(17.5, "bus")}


@pytest.mark.parametrize(("text", "problem"), [
    ("utterance,snr,noise\np232_001,2.5,living\n", r"conditions.csv: header \['utterance', 'snr', 'noise'\]"),
    ("", "conditions.csv: empty; a conditions file starts with the header id,snr_db,noise_type"),
    ("id,snr_db,noise_type\np232_001,2.5,living\np232_001,7.5,bus\n",
     r"conditions.csv:3: id p232_001 is named again \(first on line 2\)"),
    ("id,snr_db,noise_type\np232_001,loud,living\n", "conditions.csv:2: SNR 'loud' of p232_001 is not a finite"),
    ("id,snr_db,noise_type\np232_001,nan,living\n", "conditions.csv:2: SNR 'nan'"),
    ("id,snr_db,noise_type\np232_001,inf,living\n", "conditions.csv:2: SNR 'inf'"),
    ("id,snr_db,noise_type\np232_001,2.5\n", "conditions.csv:2: 2 fields, expected 3"),
    ("id,snr_db,noise_type\n,2.5,living\n", "conditions.csv:2: empty id"),
    ("id,snr_db,noise_type\np232_001,2.5,\n", "conditions.csv:2: p232_001 has no noise type"),
])
def test_a_malformed_conditions_file_is_refused_naming_file_and_row(tmp_path, text, problem):
    path = tmp_path / "conditions.csv"
    path.write_text(text)
    with pytest.raises(ConditionsError, match=problem):
        read_conditions(path)


def test_a_conditions_file_must_cover_every_utterance_scored_and_may_cover_more(tmp_path):
    path = tmp_path / "conditions.csv"
    write_conditions(path, CONDITIONS)
    assert conditions_of(path, ["p232_003"]) == {"p232_003": Condition(17.5, "bus")}
    with pytest.raises(ConditionsError, match=r"conditions.csv: no row for 2 utterance\(s\) being scored: p232_004, "
                                              "p232_005"):
        conditions_of(path, ["p232_001", "p232_004", "p232_005"])
    with pytest.raises(ConditionsError, match="no such conditions file"):
        conditions_of(tmp_path / "absent.csv", ["p232_001"])


def test_condition_columns_come_last_are_never_scores_and_are_checked_on_reading(tmp_path):
    header = columns(conditions=True)
    assert header[-3:] == ["truncated_samples", "snr_db", "noise_type"]
    scores = {"pesq": 2.0, "csig": 3.0, "cbak": 2.5, "covl": 2.5, "ssnr": 5.0, "stoi": 0.9, "status": "ok",
              "variant": "loizou"}
    with pytest.raises(ValueError, match="no condition was given"):
        make_row("p232_001", scores, header)
    path = tmp_path / "m.csv"
    write_table(path, [make_row("p232_001", scores, header, CONDITIONS["p232_001"])], header)
    rows, read_header = read_table(path)
    assert read_header == header
    assert (rows[0]["snr_db"], rows[0]["noise_type"]) == (2.5, "living")
    path.write_text(path.read_text().replace("2.500000,living", "nan,living"))
    with pytest.raises(TableError, match=r"m.csv:2: condition columns without a finite SNR"):
        read_table(path)


@pytest.fixture
def directories(tmp_path) -> tuple[Path, Path]:
    clean_dir, enhanced_dir = tmp_path / "clean", tmp_path / "enhanced"
    for index, utterance in enumerate(["p232_001", "p232_002"]):
        clean = speech_like(1.0, seed=index)
        write_wav(clean_dir / f"{utterance}.wav", clean)
        write_wav(enhanced_dir / f"{utterance}.wav", noisy_version(clean, 10.0, seed=20 + index))
    return clean_dir, enhanced_dir


def test_evaluate_writes_each_utterances_condition_and_resumes_only_with_the_same_file(directories, tmp_path, capsys):
    clean_dir, enhanced_dir = directories
    conditions, output = tmp_path / "conditions.csv", tmp_path / "out" / "m.csv"
    write_conditions(conditions, CONDITIONS)
    options = evaluate.ScoringOptions(clean_dir, enhanced_dir, output, quiet=True, conditions=conditions)
    summary = evaluate.evaluate(options)
    rows = {row["utterance"]: row for row in read_table(output)[0]}
    assert {u: (row["snr_db"], row["noise_type"]) for u, row in rows.items()} == {
        "p232_001": (2.5, "living"), "p232_002": (-5.0, "cafe, busy")}
    assert {"snr_db", "noise_type"}.isdisjoint(summary["metrics"]) and "pesq" in summary["metrics"]  # never averaged
    assert summary["conditions"]["file"] == str(conditions)
    record = json.loads(evaluate.resume_key_path(output).read_text())
    assert record["conditions_sha256"] == summary["conditions"]["sha256"]
    assert "--conditions" in summary["command"]

    assert evaluate.evaluate(options)["scored_now"] == 0  # same file: resumed
    write_conditions(conditions, {**CONDITIONS, "p232_001": Condition(7.5, "living")})
    capsys.readouterr()
    assert evaluate.evaluate(options)["scored_now"] == 2  # other content, same name: scored again
    assert "conditions_sha256" in capsys.readouterr().err
    assert read_table(output)[0][0]["snr_db"] == 7.5


def test_evaluate_refuses_a_conditions_file_that_misses_an_utterance(directories, tmp_path, capsys):
    clean_dir, enhanced_dir = directories
    conditions = tmp_path / "conditions.csv"
    write_conditions(conditions, {"p232_001": CONDITIONS["p232_001"]})
    code = evaluate.main(["--clean-dir", str(clean_dir), "--enhanced-dir", str(enhanced_dir), "--output",
                          str(tmp_path / "m.csv"), "--conditions", str(conditions), "--quiet"])
    assert code == 2
    assert f"{conditions}: no row for 1 utterance(s) being scored: p232_002" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()


def test_scoring_options_with_conditions_stand_for_their_command_line():
    options = evaluate.ScoringOptions(Path("c"), Path("e"), Path("o.csv"), quiet=True, conditions=Path("k.csv"))
    parser = evaluate.parser()
    assert evaluate._scoring_options(parser, parser.parse_args(options.argv())) == options
