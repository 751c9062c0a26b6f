"""VB-mini as committed, mixed into its cache, described, and split by the protocols."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.data import DataError, open_source, split_for_protocol
from bench.data.__main__ import main
from bench.data.p56 import measured_snr
from bench.data.vbmini import DEFAULT_ROOT, VBMiniSource, read_corpus
from imse.checkpoint import sha256_of
from tests.dummies.layouts import MemorySource, make_upstream_layout, synthetic_pairs

MEGABYTE = 1_000_000


@pytest.fixture(scope="module")
def vb_mini(tmp_path_factory):
    """VB-mini mixed once into a private cache for this module."""
    return VBMiniSource(cache=tmp_path_factory.mktemp("cache") / "vb-mini")


def test_committed_corpus_is_small_complete_and_credited():
    corpus = read_corpus(DEFAULT_ROOT)
    total = sum(path.stat().st_size for path in DEFAULT_ROOT.rglob("*") if path.is_file())
    assert total < 15 * MEGABYTE
    for entry in corpus["utterances"] + corpus["noises"]:
        assert sha256_of(DEFAULT_ROOT / entry["file"]) == entry["sha256"], entry["file"]
    attribution = (DEFAULT_ROOT / "ATTRIBUTION").read_text(encoding="utf-8")
    for package in ("asterisk-core-sounds-en-g722", "openttd-opensfx", "pocketsphinx", "LibriVox"):
        assert package in attribution
    for licence in {entry["licence"] for entry in corpus["noises"]} | {
        s["licence"] for s in corpus["speakers"].values()
    }:
        assert licence in attribution


def test_recipe_test_speakers_and_noises_are_unseen_in_training():
    corpus = read_corpus(DEFAULT_ROOT)
    speakers = {
        split: {s for s, info in corpus["speakers"].items() if info["split"] == split} for split in ("train", "test")
    }
    assert len(speakers["train"]) >= 3 and len(speakers["test"]) >= 2
    assert not speakers["train"] & speakers["test"]
    assert not set(corpus["noise_types"]["train"]) & set(corpus["noise_types"]["test"])
    assert {"speech-shaped", "babble"} <= set(corpus["noise_types"]["train"])
    assert corpus["snr_db"] == {"train": [0.0, 5.0, 10.0, 15.0], "test": [2.5, 7.5, 12.5, 17.5]}


def test_mixtures_have_the_planned_counts_and_snrs(vb_mini):
    assert vb_mini.name == "vb-mini"
    assert len(vb_mini.ids("train")) >= 300 and len(vb_mini.ids("test")) >= 40
    corpus = vb_mini.corpus
    for split in ("train", "test"):
        snrs = set()
        for utterance in vb_mini.utterances(split):
            assert utterance.noise_type in corpus["noise_types"][split]
            assert utterance.snr_db in corpus["snr_db"][split]
            assert abs(measured_snr(utterance.clean, utterance.noisy) - utterance.snr_db) < 0.1
            snrs.add(utterance.snr_db)
        assert snrs == set(corpus["snr_db"][split])


def test_second_open_reads_the_cache(vb_mini, monkeypatch):
    import bench.data.vbmini as vbmini

    def no_mixing(*arguments):
        raise AssertionError("mixed again")

    monkeypatch.setattr(vbmini, "mix_corpus", no_mixing)
    again = VBMiniSource(cache=vb_mini.root)
    assert again.ids("test") == vb_mini.ids("test")


def test_a_changed_recording_is_refused(tmp_path):
    corpus = read_corpus(DEFAULT_ROOT)
    entry = corpus["utterances"][0]
    (tmp_path / "speech").mkdir()
    (tmp_path / entry["file"]).write_bytes((DEFAULT_ROOT / entry["file"]).read_bytes()[:-10])
    corpus["utterances"] = [entry]
    (tmp_path / "corpus.json").write_text(json.dumps(corpus))
    with pytest.raises(DataError, match="missing or changed since corpus.json was written"):
        VBMiniSource(tmp_path, cache=tmp_path / "cache")


def test_describe_vb_mini(vb_mini, monkeypatch, capsys):
    monkeypatch.setenv("IMSE_BENCH_CACHE", str(vb_mini.root.parent))
    monkeypatch.setattr("bench.data.resolve.VBMiniSource", lambda: vb_mini)
    assert main(["describe", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "source: vb-mini" in out
    assert "test: 45 pairs listed, 45 read, 0 skipped" in out
    assert "speakers (2): en-librivox 5, ru-ivrvoice 40" in out
    assert "nominal SNR: 2.5 dB" in out
    assert "   2.5 dB +- 1.25     12" in out


def test_describe_counts_bad_pairs_and_explains_missing_data(tmp_path, capsys):
    root = make_upstream_layout(tmp_path / "up", synthetic_pairs(), synthetic_pairs(("p009",), seed=1))
    (root / "wavs_clean" / "p001_002.wav").write_bytes(b"broken")
    assert main(["describe", "--data", str(root), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "train: 4 pairs listed, 3 read, 1 skipped" in out
    assert "speakers (2): p001 1, p002 2" in out
    assert "noise types and nominal SNR: not recorded by this source" in out
    assert "skipped 1: cannot be read as audio" in out
    assert main(["describe", "--data", str(tmp_path / "nothing")]) == 2
    assert "upstream 16 kHz layout" in capsys.readouterr().err


def test_clean_protocol_holds_out_training_speakers(vb_mini):
    protocol = split_for_protocol(vb_mini)
    assert protocol.name == "clean" and protocol.validation_split == "train"
    assert protocol.validation_speakers == ("fr-june",)
    assert {vb_mini.speaker(i) for i in protocol.validation} == {"fr-june"}
    assert "fr-june" not in {vb_mini.speaker(i) for i in protocol.train}
    assert not set(protocol.validation) & set(protocol.test)
    assert len(protocol.train) + len(protocol.validation) == len(vb_mini.ids("train"))


def test_upstream_protocol_validates_on_the_test_set_and_says_so(vb_mini):
    protocol = split_for_protocol(vb_mini, "upstream")
    assert protocol.validation == protocol.test == tuple(vb_mini.ids("test"))
    assert protocol.validation_split == "test"
    assert "selected on the test set" in protocol.label


def test_voicebank_default_validation_speakers():
    speakers = ("p226", "p227", "p287")
    source = MemorySource(synthetic_pairs(speakers, per_speaker=1), synthetic_pairs(("p232",), per_speaker=1))
    protocol = split_for_protocol(source)
    assert protocol.validation_speakers == ("p226", "p287")
    assert [source.speaker(i) for i in protocol.train] == ["p227"]
    with pytest.raises(DataError, match="not training speakers"):
        split_for_protocol(source, validation_speakers=("p232",))
    with pytest.raises(DataError, match="needs training speakers left to train on"):
        split_for_protocol(source, validation_speakers=speakers)
    with pytest.raises(DataError, match="unknown protocol"):
        split_for_protocol(source, "test-set")


def test_vb_mini_is_the_default_source(monkeypatch, vb_mini):
    monkeypatch.delenv("IMSE_BENCH_DATA", raising=False)
    monkeypatch.setattr("bench.data.resolve.VBMiniSource", lambda: vb_mini)
    assert open_source() is vb_mini
    assert open_source("vb-mini") is vb_mini
    assert np.all([vb_mini.speaker(i).startswith(("en-", "fr-", "it-")) for i in vb_mini.ids("train")])
