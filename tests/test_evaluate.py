"""python -m bench.evaluate: pairing, failure rows and counts, strict mode, resume, shards and merge."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bench.evaluate as evaluate
from bench.metrics import METRICS
from bench.metrics.table import TableError, read_table
from tests.dummies.audio import (
    noisy_version,
    speech_like,
    write_corrupt_wav,
    write_stereo_wav,
    write_wav,
)
from tests.test_metrics_parity import PYTHON_LOG_TOLERANCE, parse_python_log

# The columns the issue asks for, in its order; the writer's own list (columns()) is not the reference.
ISSUE_COLUMNS = ["utterance", "pesq", "csig", "cbak", "covl", "ssnr", "stoi", "status", "reason"]
EXPECTED_FAILURES = {
    "u04": "missing-pair",
    "u05": "missing-pair",
    "u06": "wrong-sample-rate",
    "u07": "multi-channel",
    "u08": "corrupt-file",
    "u09": "pesq-silent-estimate",
    "u10": "pesq-too-short",
    "u11": "pesq-no-utterances",
}


def make_dirs(root: Path, failures: bool = True) -> tuple[Path, Path]:
    """Clean and enhanced directories: 3 scorable pairs (one of unequal length), then one of each failure."""
    clean_dir, enhanced_dir = root / "clean", root / "enhanced"
    for index in range(1, 4):
        clean = speech_like(1.0, seed=index)
        write_wav(clean_dir / f"u0{index}.wav", clean)
        enhanced = noisy_version(clean, 3.0 + 4 * index, seed=10 + index)
        write_wav(enhanced_dir / f"u0{index}.wav", enhanced[:-100] if index == 3 else enhanced)
    if not failures:
        return clean_dir, enhanced_dir
    clean = speech_like(1.0, seed=9)
    noisy = noisy_version(clean, 5.0, seed=19)
    write_wav(clean_dir / "u04.wav", clean)  # no enhanced file
    write_wav(enhanced_dir / "u05.wav", noisy)  # no clean file
    for stem in ("u06", "u07", "u08", "u09"):
        write_wav(clean_dir / f"{stem}.wav", clean)
    write_wav(enhanced_dir / "u06.wav", noisy[::2], sample_rate=8_000)
    write_stereo_wav(enhanced_dir / "u07.wav", noisy)
    write_corrupt_wav(enhanced_dir / "u08.wav")
    write_wav(enhanced_dir / "u09.wav", np.zeros_like(noisy))
    write_wav(clean_dir / "u10.wav", clean[:3200])
    write_wav(enhanced_dir / "u10.wav", noisy[:3200])
    write_wav(clean_dir / "u11.wav", np.zeros_like(clean))
    write_wav(enhanced_dir / "u11.wav", noisy)
    return clean_dir, enhanced_dir


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    clean_dir, enhanced_dir = make_dirs(root)
    output = root / "out" / "metrics.csv"
    code = evaluate.main(
        ["--clean-dir", str(clean_dir), "--enhanced-dir", str(enhanced_dir), "--output", str(output), "--quiet"]
    )
    assert code == 0
    return clean_dir, enhanced_dir, output


def run(clean_dir, enhanced_dir, output, *extra) -> int:
    return evaluate.main(
        ["--clean-dir", str(clean_dir), "--enhanced-dir", str(enhanced_dir), "--output", str(output), "--quiet", *extra]
    )


def test_table_has_the_issue_columns_and_one_sorted_row_per_utterance(scored):
    _, _, output = scored
    with output.open() as stream:
        header = next(csv.reader(stream))
    assert header == [*ISSUE_COLUMNS, "estoi", "si_sdr", "variant", "truncated_samples"]
    rows, _ = read_table(output)
    assert [row["utterance"] for row in rows] == [f"u{index:02d}" for index in range(1, 12)]
    assert {row["variant"] for row in rows} == {"loizou"}


def test_each_failure_kind_has_its_status_reason_and_nan(scored):
    clean_dir, enhanced_dir, output = scored
    rows = {row["utterance"]: row for row in read_table(output)[0]}
    for stem in ("u01", "u02", "u03"):
        assert rows[stem]["status"] == "ok" and rows[stem]["reason"] == ""
        assert all(math.isfinite(rows[stem][name]) for name in METRICS)
    for stem, kind in EXPECTED_FAILURES.items():
        row = rows[stem]
        assert row["status"] == "failed", stem
        assert row["reason"].startswith(f"{kind}: "), (stem, row["reason"])
        assert math.isnan(row["pesq"]) and math.isnan(row["csig"]), stem
        assert all(row[name] != -1 for name in METRICS)
    # the reasons name the file at fault
    assert str(enhanced_dir / "u06.wav") in rows["u06"]["reason"] and "8000 Hz" in rows["u06"]["reason"]
    assert str(enhanced_dir / "u07.wav") in rows["u07"]["reason"] and "2 channels" in rows["u07"]["reason"]
    assert str(enhanced_dir / "u08.wav") in rows["u08"]["reason"]
    assert str(clean_dir / "u04.wav") in rows["u04"]["reason"] and "no enhanced file" in rows["u04"]["reason"]
    assert str(enhanced_dir / "u05.wav") in rows["u05"]["reason"] and "no clean file" in rows["u05"]["reason"]
    assert rows["u03"]["truncated_samples"] == 100 and rows["u01"]["truncated_samples"] == 0


def test_summary_counts_and_means_over_ok_rows_only(scored):
    _, _, output = scored
    summary = json.loads(evaluate.summary_path(output).read_text())
    assert evaluate.summary_path(output).name == "metrics.summary.json"
    assert summary["count"] == 11 and summary["ok"] == 3 and summary["failures"] == 8
    assert summary["truncated"] == 1
    assert summary["failures_by_kind"] == {
        "corrupt-file": 1,
        "missing-pair": 2,
        "multi-channel": 1,
        "pesq-no-utterances": 1,
        "pesq-silent-estimate": 1,
        "pesq-too-short": 1,
        "wrong-sample-rate": 1,
    }
    assert summary["failed_utterances"] == sorted(EXPECTED_FAILURES)
    rows = [row for row in read_table(output)[0] if row["status"] == "ok"]
    for name in METRICS:
        values = np.array([row[name] for row in rows])
        stats = summary["metrics"][name]
        assert stats["n"] == 3
        assert stats["mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert stats["std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert stats["ci95"] == [None, None]  # 3 ok rows: below MIN_SAMPLE, no interval (null in JSON)
    assert summary["variant"] == "loizou" and "composite.m" in summary["variant_description"]
    assert summary["bootstrap"]["resamples"] == 10_000 and summary["bootstrap"]["seed"] == 0
    assert set(summary["versions"]) >= {"python", "numpy", "scipy", "pesq", "pystoi"}
    assert summary["versions"]["pesq"] == "0.0.4"
    assert "bench.evaluate" in summary["command"] and "--clean-dir" in summary["command"]
    assert summary["shard"] is None
    assert summary["jobs"] == 1 and summary["scored_now"] == 11 and summary["scoring_seconds"] > 0


def test_strict_stops_at_the_first_failure_naming_it(scored, tmp_path, capsys):
    clean_dir, enhanced_dir, _ = scored
    assert run(clean_dir, enhanced_dir, tmp_path / "strict.csv", "--strict") == 2
    error = capsys.readouterr().err
    assert "--strict" in error and "u04" in error and "no enhanced file" in error


def test_strict_stops_on_a_scoring_failure(tmp_path, capsys):
    clean_dir, enhanced_dir = make_dirs(tmp_path, failures=False)
    write_wav(clean_dir / "u09.wav", speech_like(1.0, seed=9))
    write_wav(enhanced_dir / "u09.wav", np.zeros(16_000))
    assert run(clean_dir, enhanced_dir, tmp_path / "strict.csv", "--strict") == 2
    error = capsys.readouterr().err
    assert "u09" in error and "pesq-silent-estimate" in error


def test_resume_skips_ok_rows_of_an_intact_table_and_rescores_the_rest(scored, tmp_path, monkeypatch):
    clean_dir, enhanced_dir, output = scored
    copy = tmp_path / "metrics.csv"
    lines = output.read_text().splitlines(keepends=True)
    copy.write_text("".join(line for line in lines if not line.startswith("u02,")))  # as if killed before u02
    evaluate.resume_key_path(copy).write_text(evaluate.resume_key_path(output).read_text())
    scored_now = []
    original = evaluate.score_utterance

    def counting(pair, *arguments):
        scored_now.append(pair.utterance)
        return original(pair, *arguments)

    monkeypatch.setattr(evaluate, "score_utterance", counting)
    assert run(clean_dir, enhanced_dir, copy) == 0
    assert scored_now == ["u02", *sorted(EXPECTED_FAILURES)]  # u01 and u03 were kept
    assert copy.read_text() == output.read_text()

    scored_now.clear()
    copy.write_text(output.read_text()[:-30])  # a torn last line: not intact, score everything
    assert run(clean_dir, enhanced_dir, copy) == 0
    assert len(scored_now) == 11
    assert copy.read_text() == output.read_text()


def test_another_variant_scores_again_instead_of_resuming(scored, tmp_path, capsys):
    clean_dir, enhanced_dir, output = scored
    copy = tmp_path / "metrics.csv"
    copy.write_text(output.read_text())
    evaluate.resume_key_path(copy).write_text(evaluate.resume_key_path(output).read_text())
    assert run(clean_dir, enhanced_dir, copy, "--variant", "upstream-float") == 0
    error = capsys.readouterr().err
    assert "variant 'loizou' -> 'upstream-float'" in error and "scoring every utterance again" in error
    assert {row["variant"] for row in read_table(copy)[0]} == {"upstream-float"}


def test_upstream_float_is_recorded_and_higher(scored, tmp_path):
    clean_dir, enhanced_dir, output = scored
    inflated = tmp_path / "float.csv"
    assert run(clean_dir, enhanced_dir, inflated, "--variant", "upstream-float") == 0
    loizou = {row["utterance"]: row for row in read_table(output)[0]}
    for row in read_table(inflated)[0]:
        assert row["variant"] == "upstream-float"
        if row["status"] == "ok":
            assert row["pesq"] == loizou[row["utterance"]]["pesq"]
            for name in ("csig", "cbak", "covl"):
                assert row[name] > loizou[row["utterance"]][name]
    assert json.loads(evaluate.summary_path(inflated).read_text())["variant"] == "upstream-float"


def test_two_jobs_write_the_same_table(scored, tmp_path):
    clean_dir, enhanced_dir, output = scored
    parallel = tmp_path / "parallel.csv"
    assert run(clean_dir, enhanced_dir, parallel, "--jobs", "2") == 0
    assert parallel.read_text() == output.read_text()


def test_summary_does_not_depend_on_the_order_rows_finished_in(scored):
    rows, header = read_table(scored[2])
    ok = [row for row in rows if row["status"] == "ok"]
    rows += [{**row, "utterance": f"v{index}"} for index, row in enumerate(ok * 2)]  # enough ok rows for a CI
    forward = evaluate.summarise(rows, header, "loizou", {})
    backward = evaluate.summarise(rows[::-1], header, "loizou", {})
    assert forward["metrics"] == backward["metrics"]  # bootstrap CIs included, to the last digit
    assert forward["failed_utterances"] == backward["failed_utterances"]


def test_shards_merge_to_the_full_table_and_refuse_gaps_and_doubles(scored, tmp_path, capsys):
    clean_dir, enhanced_dir, output = scored
    shards = []
    for index in (1, 2, 3):
        shard = tmp_path / f"shard{index}.csv"
        assert run(clean_dir, enhanced_dir, shard, "--shard", f"{index}/3") == 0
        shards.append(shard)
    assert [row["utterance"] for row in read_table(shards[1])[0]] == ["u02", "u05", "u08", "u11"]
    info = json.loads(evaluate.summary_path(shards[0]).read_text())["shard"]
    assert info["index"] == 1 and info["count"] == 3 and info["utterances_total"] == 11

    merged = tmp_path / "merged.csv"
    assert evaluate.main(["merge", *map(str, shards), "--output", str(merged)]) == 0
    assert merged.read_text() == output.read_text()
    summary = json.loads(evaluate.summary_path(merged).read_text())
    full = json.loads(evaluate.summary_path(output).read_text())
    assert summary["metrics"] == full["metrics"] and summary["failures_by_kind"] == full["failures_by_kind"]

    assert evaluate.main(["merge", str(shards[0]), str(shards[2]), "--output", str(tmp_path / "m.csv")]) == 2
    assert "shard(s) [2] of 3 missing" in capsys.readouterr().err
    assert evaluate.main(["merge", *map(str, shards), str(shards[0]), "--output", str(tmp_path / "m.csv")]) == 2
    assert "u01 appears in more than one shard" in capsys.readouterr().err
    # a shard that lost a row (torn run) is caught too
    lines = shards[2].read_text().splitlines(keepends=True)
    shards[2].write_text("".join(lines[:-1]))
    assert evaluate.main(["merge", *map(str, shards), "--output", str(tmp_path / "m.csv")]) == 2
    assert "10 utterances, the run had 11" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()


def test_optional_columns_and_resume_with_other_options(tmp_path, capsys):
    clean_dir, enhanced_dir = make_dirs(tmp_path, failures=False)
    output = tmp_path / "extra.csv"
    assert run(clean_dir, enhanced_dir, output, "--narrowband-pesq") == 0
    rows, header = read_table(output)
    assert header == [*ISSUE_COLUMNS, "estoi", "si_sdr", "pesq_nb", "variant", "truncated_samples"]
    assert all(0 < row["estoi"] < 1 and 1 <= row["pesq_nb"] <= 4.55 for row in rows)
    summary = json.loads(evaluate.summary_path(output).read_text())
    assert summary["metrics"]["estoi"]["n"] == 3 and summary["metrics"]["pesq_nb"]["n"] == 3
    capsys.readouterr()
    assert run(clean_dir, enhanced_dir, output) == 0  # same file, other columns: scored again, not mixed
    assert "columns" in capsys.readouterr().err
    assert read_table(output)[1] == [*ISSUE_COLUMNS, "estoi", "si_sdr", "variant", "truncated_samples"]


def test_bad_arguments(tmp_path, capsys):
    assert run(tmp_path / "nowhere", tmp_path, tmp_path / "x.csv") == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run(tmp_path / "empty", tmp_path, tmp_path / "x.csv") == 2
    assert "no .wav files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(tmp_path, tmp_path, tmp_path / "x.csv", "--shard", "4/3")


def test_read_table_refuses_broken_tables(scored, tmp_path):
    _, _, output = scored
    text = output.read_text()
    broken = tmp_path / "broken.csv"
    broken.write_text(text.replace("utterance,pesq", "name,pesq", 1))
    with pytest.raises(TableError, match="header"):
        read_table(broken)
    broken.write_text(text + text.splitlines()[1] + "\n")
    with pytest.raises(TableError, match="repeated utterance 'u01'"):
        read_table(broken)
    broken.write_text(text.replace(",ok,", ",fine,", 1))
    with pytest.raises(TableError, match="unknown status"):
        read_table(broken)


def test_sample_noisy_row_through_the_command_line(shared_dir, tmp_path):
    """The "Noisy" row: the noisy directory passed as the enhanced one, in a fresh process with 2 jobs."""
    sample = shared_dir / "vbdmd-sample"
    output = tmp_path / "noisy.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.evaluate", "--clean-dir", str(sample / "clean"),
         "--enhanced-dir", str(sample / "noisy"), "--output", str(output), "--jobs", "2"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "scoring" in completed.stderr  # the tqdm bar
    log = parse_python_log(sample / "cmgan_python_noisy_metrics.log")
    rows, _ = read_table(output)
    assert len(rows) == 12
    for row in rows:
        for name, tolerance in PYTHON_LOG_TOLERANCE.items():
            assert abs(row[name] - log[row["utterance"]][name]) <= tolerance, (row["utterance"], name)


def test_scoring_options_stand_for_the_command_line_that_asks_for_them():
    options = evaluate.ScoringOptions(Path("c"), Path("e"), Path("o.csv"), "upstream-float", 2, quiet=True)
    assert options.argv() == ["--clean-dir", "c", "--enhanced-dir", "e", "--output", "o.csv",
                              "--variant", "upstream-float", "--jobs", "2", "--quiet"]
    every = evaluate.ScoringOptions(Path("c"), Path("e"), Path("o.csv"), "loizou", 3, evaluate.Shard(2, 4),
                                    strict=True, dnsmos=True, narrowband_pesq=True, quiet=True)
    for wanted in (options, every):
        parser = evaluate.parser()
        assert evaluate._scoring_options(parser, parser.parse_args(wanted.argv())) == wanted


@pytest.mark.parametrize(("change", "message"), [({"jobs": 0}, "--jobs"), ({"variant": "nope"}, "unknown composite")])
def test_the_library_function_refuses_bad_options_with_a_typed_error(tmp_path, change, message):
    options = evaluate.ScoringOptions(tmp_path, tmp_path, tmp_path / "o.csv", **change)
    with pytest.raises(evaluate.EvaluationError, match=message):
        evaluate.evaluate(options)


def test_audio_errors_are_classified_by_their_kind_not_their_wording(tmp_path):
    write_wav(tmp_path / "clean" / "u.wav", speech_like(seconds=1.0))
    write_stereo_wav(tmp_path / "enhanced" / "u.wav", speech_like(seconds=1.0))
    pair = evaluate.Pair("u", tmp_path / "clean" / "u.wav", tmp_path / "enhanced" / "u.wav")
    options = evaluate.ScoringOptions(tmp_path / "clean", tmp_path / "enhanced", tmp_path / "o.csv")
    assert evaluate.score_utterance(pair, options)["reason"].startswith("multi-channel: ")
