"""bench.evaluate's newer measures: SI-SDR and ESTOI by default, DNSMOS on request, reference-free
runs, and the implementation and version of every measure in the summary."""

from __future__ import annotations

import csv
import json
import math
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from pystoi import stoi as pystoi_stoi

from bench import evaluate
from bench.metrics.dnsmos import INSTALL
from bench.metrics.table import read_table
from imse.audio import read_audio
from tests.dummies.audio import speech_like, write_wav

DNSMOS_COLUMNS = ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"]
REFERENCE_UTTERANCES = ("p232_005", "p257_015")
"""The noisy sample files whose DNSMOS ../shared/parity/dnsmos_reference.json holds."""


def summary_of(output: Path) -> dict:
    return json.loads(evaluate.summary_path(output).read_text())


def test_reference_free_run_scores_dnsmos_only_and_says_so(shared_dir, tmp_path):
    enhanced_dir = tmp_path / "recordings"
    enhanced_dir.mkdir()
    for utterance in REFERENCE_UTTERANCES:
        (enhanced_dir / f"{utterance}.wav").symlink_to(shared_dir / "vbdmd-sample" / "noisy" / f"{utterance}.wav")
    output = tmp_path / "field.csv"
    assert evaluate.main(["--enhanced-dir", str(enhanced_dir), "--output", str(output), "--quiet"]) == 0

    with output.open() as stream:
        assert next(csv.reader(stream)) == ["utterance", "status", "reason", *DNSMOS_COLUMNS, "variant",
                                            "truncated_samples"]
    reference = json.loads((shared_dir / "parity" / "dnsmos_reference.json").read_text())
    rows, _ = read_table(output)
    assert [row["utterance"] for row in rows] == list(REFERENCE_UTTERANCES)
    for row in rows:
        expected = reference[f"noisy/{row['utterance']}"]
        assert row["status"] == "ok"
        for label in ("SIG", "BAK", "OVRL"):
            assert abs(row[f"dnsmos_{label.lower()}"] - expected[label]) <= 1e-3, (row["utterance"], label)
    summary = summary_of(output)
    assert summary["reference_free"] is True and summary["clean_dir"] is None
    assert list(summary["metrics"]) == DNSMOS_COLUMNS
    assert "--clean-dir" not in summary["command"]
    version = metadata.version("speechmos")
    assert summary["versions"]["speechmos"] == version
    assert summary["implementations"]["dnsmos_ovrl"].startswith(f"speechmos {version}, onnxruntime ")
    assert "P.808 model_v8.onnx" in summary["implementations"]["dnsmos_p808"]


def orthogonal_case(seconds: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """clean and 0.5 clean + noise orthogonal to it with |noise|^2 = |0.5 clean|^2 / 10: SI-SDR 10 dB."""
    clean = speech_like(seconds, seed=21)
    clean = 0.5 * (clean - clean.mean()) / np.max(np.abs(clean))
    noise = np.random.default_rng(22).standard_normal(clean.size)
    noise -= noise.mean()
    noise -= (noise @ clean) / (clean @ clean) * clean
    noise *= math.sqrt(0.25 * (clean @ clean) / 10 / (noise @ noise))
    return clean, 0.5 * clean + noise


def test_an_intrusive_run_has_estoi_and_si_sdr_and_names_every_implementation(tmp_path):
    clean, enhanced = orthogonal_case()
    write_wav(tmp_path / "clean" / "u1.wav", clean, subtype="DOUBLE")
    write_wav(tmp_path / "enhanced" / "u1.wav", enhanced, subtype="DOUBLE")
    output = tmp_path / "scores.csv"
    assert evaluate.main(["--clean-dir", str(tmp_path / "clean"), "--enhanced-dir", str(tmp_path / "enhanced"),
                          "--output", str(output), "--quiet"]) == 0
    (row,), header = read_table(output)
    assert row["status"] == "ok"
    assert row["si_sdr"] == pytest.approx(10.0, abs=1e-5)  # 6 decimals in the table
    on_disk = [read_audio(tmp_path / kind / "u1.wav").samples for kind in ("clean", "enhanced")]
    assert row["estoi"] == pytest.approx(pystoi_stoi(*on_disk, 16_000, extended=True), abs=2e-6)

    summary = summary_of(output)
    assert summary["reference_free"] is False
    implementations = summary["implementations"]
    assert list(implementations) == ["pesq", "csig", "cbak", "covl", "ssnr", "stoi", "estoi", "si_sdr"]
    pesq, pystoi, ours = (metadata.version(name) for name in ("pesq", "pystoi", "imse-bench"))
    assert implementations["pesq"] == f"pesq {pesq}, ITU-T P.862.2 wideband"
    assert implementations["stoi"] == f"pystoi {pystoi}, STOI (Taal 2011)"
    assert implementations["estoi"] == f"pystoi {pystoi}, extended STOI (Jensen & Taal 2016)"
    assert implementations["si_sdr"].startswith(f"imse-bench {ours}, numpy, SI-SDR (Le Roux 2019)")
    assert implementations["csig"].startswith(f"imse-bench {ours}, numpy, Hu & Loizou 2008")


def test_the_resume_key_holds_the_dnsmos_packages_only_when_dnsmos_is_on(tmp_path):
    classic = evaluate.ScoringOptions(tmp_path, tmp_path, tmp_path / "o.csv")
    with_mos = evaluate.ScoringOptions(tmp_path, tmp_path, tmp_path / "o.csv", dnsmos=True)
    mos_packages = {"speechmos", "onnxruntime", "librosa"}
    assert not mos_packages & set(evaluate.resume_key(classic, [], [])["versions"])
    key = evaluate.resume_key(with_mos, [], [])
    assert mos_packages <= set(key["versions"])
    older = json.loads(json.dumps(key))
    older["versions"]["speechmos"] = "0.0.0"
    assert "speechmos 0.0.0 -> " in evaluate._key_difference(older, key)


def test_reference_free_options_stand_for_their_command_line(tmp_path):
    options = evaluate.ScoringOptions(None, Path("e"), Path("o.csv"), dnsmos=True, quiet=True)
    assert options.argv() == ["--enhanced-dir", "e", "--output", "o.csv", "--variant", "loizou", "--jobs", "1",
                              "--quiet"]
    parser = evaluate.parser()
    assert evaluate._scoring_options(parser, parser.parse_args(options.argv())) == options
    with pytest.raises(evaluate.EvaluationError, match="nothing to score"):
        evaluate.evaluate(evaluate.ScoringOptions(None, tmp_path, tmp_path / "o.csv"))


def test_dnsmos_without_the_mos_extra_is_refused_before_scoring(tmp_path, monkeypatch, capsys):
    write_wav(tmp_path / "clean" / "u1.wav", speech_like(1.0))
    write_wav(tmp_path / "enhanced" / "u1.wav", speech_like(1.0))
    monkeypatch.setitem(sys.modules, "speechmos", None)
    code = evaluate.main(["--clean-dir", str(tmp_path / "clean"), "--enhanced-dir", str(tmp_path / "enhanced"),
                          "--output", str(tmp_path / "o.csv"), "--dnsmos", "--quiet"])
    assert code == 2
    assert INSTALL in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_a_dnsmos_failure_beside_the_intrusive_suite_never_drops_the_other_measures(tmp_path):
    """A clipping float WAV: DNSMOS refuses it, but its PESQ and STOI still count, as without --dnsmos."""
    clean = speech_like(3.0, seed=3)
    write_wav(tmp_path / "clean" / "a.wav", clean)
    write_wav(tmp_path / "clean" / "b.wav", speech_like(3.0, seed=4))
    write_wav(tmp_path / "enhanced" / "a.wav", 2.4 * clean, subtype="FLOAT")  # peak 1.2
    write_wav(tmp_path / "enhanced" / "b.wav", speech_like(3.0, seed=4))
    arguments = ["--clean-dir", str(tmp_path / "clean"), "--enhanced-dir", str(tmp_path / "enhanced"), "--quiet"]
    assert evaluate.main([*arguments, "--output", str(tmp_path / "plain.csv")]) == 0
    assert evaluate.main([*arguments, "--output", str(tmp_path / "mos.csv"), "--dnsmos"]) == 0
    plain, with_dnsmos = summary_of(tmp_path / "plain.csv"), summary_of(tmp_path / "mos.csv")
    assert with_dnsmos["ok"] == plain["ok"] == 2
    for name in ("pesq", "stoi", "si_sdr"):
        assert with_dnsmos["metrics"][name] == plain["metrics"][name]
    assert with_dnsmos["metrics"]["dnsmos_ovrl"]["n"] == 1
    assert with_dnsmos["unscored_in_ok_rows"] == dict.fromkeys(DNSMOS_COLUMNS, 1)
    rows = {row["utterance"]: row for row in read_table(tmp_path / "mos.csv")[0]}
    assert rows["a"]["status"] == "ok" and rows["a"]["reason"].startswith("dnsmos-out-of-range: ")
    assert math.isnan(rows["a"]["dnsmos_ovrl"])

    # reference-free, DNSMOS is all the row has: the same file fails its row
    assert evaluate.main(["--enhanced-dir", str(tmp_path / "enhanced"), "--output", str(tmp_path / "free.csv"),
                          "--quiet"]) == 0
    free = summary_of(tmp_path / "free.csv")
    assert free["failed_utterances"] == ["a"] and free["failures_by_kind"] == {"dnsmos-out-of-range": 1}
