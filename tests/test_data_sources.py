"""The three VoiceBank+DEMAND layouts, built in miniature, and the input they must refuse."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
import soxr

import bench.data.datashare as datashare
from bench.data import DataError, open_source
from bench.data.cache import MANIFEST
from imse.audio import AudioError
from imse.frontend import SAMPLE_RATE
from tests.dummies.layouts import (
    make_datashare_layout,
    make_parquet_layout,
    make_saved_dataset,
    make_upstream_layout,
    sample_pairs,
    synthetic_pairs,
    write_wav,
)

TRAIN = synthetic_pairs(("p001", "p002"), per_speaker=2)
TEST = synthetic_pairs(("p009",), per_speaker=2, seed=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMSE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("IMSE_BENCH_DATA", raising=False)


def level_db(samples: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(samples, np.float64) ** 2))


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return level_db(reference) - level_db(estimate - reference)


def expected_16k(pairs, rate):
    """What the source should return: the 16-bit-rounded input, resampled when it is not 16 kHz."""
    rounded = {i: tuple(np.round(np.clip(x, -1, 1) * 32768) / 32768 for x in pair) for i, pair in pairs.items()}
    if rate == SAMPLE_RATE:
        return rounded
    return {i: tuple(soxr.resample(x, rate, SAMPLE_RATE, quality="VHQ") for x in pair) for i, pair in rounded.items()}


def assert_source_matches(source, train, test, rate=SAMPLE_RATE, tolerance_db=60.0):
    for split, pairs in (("train", train), ("test", test)):
        assert source.ids(split) == sorted(pairs)
        expected = expected_16k(pairs, rate)
        for utterance in source.utterances(split):
            clean, noisy = expected[utterance.id]
            assert utterance.sample_rate == SAMPLE_RATE
            assert utterance.clean.dtype == np.float32 and utterance.clean.ndim == 1
            assert utterance.clean.size == utterance.noisy.size == clean.size
            assert utterance.speaker == utterance.id.split("_")[0]
            assert snr_db(clean, utterance.clean) > tolerance_db
            assert snr_db(noisy, utterance.noisy) > tolerance_db
            assert abs(level_db(utterance.clean) - level_db(clean)) < 0.01


def test_datashare_is_resampled_once_into_a_cache(tmp_path, monkeypatch):
    train = synthetic_pairs(("p001", "p002"), per_speaker=2, rate=48_000)
    test = synthetic_pairs(("p009",), per_speaker=2, rate=48_000, seed=1)
    root = make_datashare_layout(tmp_path / "ds", train, test, logged=True)
    source = open_source(str(root), partial=True)
    assert source.name == "datashare"
    assert source.load("test", "p009_001").snr_db == 2.5 and source.load("train", "p001_001").noise_type == "cafe"
    assert source.speakers("train") == ["p001", "p002"] and source.speakers("test") == ["p009"]
    # 16-bit storage of the resampled files is the only difference from resampling in memory.
    assert_source_matches(source, train, test, rate=48_000)
    cached = sorted((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and (cached[0] / MANIFEST).is_file()

    def no_resampling(path):
        raise AssertionError(f"{path} resampled again")

    monkeypatch.setattr(datashare, "to_16k", no_resampling)
    again = open_source(str(root), partial=True)
    assert again.ids("train") == source.ids("train")


def test_real_pairs_survive_the_48k_round_trip(tmp_path, shared_dir):
    pairs = sample_pairs(shared_dir)
    at_48k = {i: tuple(soxr.resample(x, SAMPLE_RATE, 48_000, quality="VHQ") for x in pair) for i, pair in pairs.items()}
    train = {i: pair for i, pair in at_48k.items() if i.startswith("p232")}
    test = {i: pair for i, pair in at_48k.items() if i.startswith("p257")}
    source = open_source(str(make_datashare_layout(tmp_path / "ds", train, test)), partial=True)
    assert len(source.ids("train")) + len(source.ids("test")) == 12
    for split in ("train", "test"):
        for utterance in source.utterances(split):
            clean, noisy = pairs[utterance.id]
            assert utterance.clean.size == clean.size
            assert snr_db(clean, utterance.clean) > 40
            assert snr_db(noisy, utterance.noisy) > 40
            assert abs(level_db(utterance.noisy) - level_db(noisy)) < 0.05


def test_a_killed_resampling_run_is_rebuilt(tmp_path, capsys):
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST, rate=48_000)
    source = open_source(str(root), partial=True)
    cache = next((tmp_path / "cache").iterdir())
    first = sorted(path.name for path in (cache / "wavs_clean").iterdir())
    # What a run killed halfway leaves: some files, no manifest.
    (cache / MANIFEST).unlink()
    (cache / "wavs_noisy" / f"{first[0]}").unlink()
    rebuilt = open_source(str(root), partial=True)
    assert "partial cache" in capsys.readouterr().err
    assert (cache / MANIFEST).is_file() and (cache / "wavs_noisy" / first[0]).is_file()
    assert rebuilt.ids("test") == source.ids("test")
    # A truncated file under a manifest is also a partial cache.
    path = cache / "wavs_clean" / first[0]
    path.write_bytes(path.read_bytes()[:100])
    open_source(str(root), partial=True)
    assert len(soundfile.read(path)[0]) == len(soundfile.read(cache / "wavs_noisy" / first[0])[0])


def test_upstream_layout_from_real_pairs(tmp_path, shared_dir):
    pairs = sample_pairs(shared_dir)
    train = {i: pair for i, pair in pairs.items() if i.startswith("p232")}
    test = {i: pair for i, pair in pairs.items() if i.startswith("p257")}
    source = open_source(str(make_upstream_layout(tmp_path / "up", train, test)), partial=True)
    assert source.name == "upstream-16k"
    for split, expected in (("train", train), ("test", test)):
        for utterance in source.utterances(split):
            clean, noisy = expected[utterance.id]
            np.testing.assert_array_equal(utterance.clean, clean)
            np.testing.assert_array_equal(utterance.noisy, noisy)


def test_upstream_layout_synthetic(tmp_path):
    source = open_source(str(make_upstream_layout(tmp_path / "up", TRAIN, TEST)), partial=True)
    assert_source_matches(source, TRAIN, TEST)


@pytest.mark.parametrize("form", ["parquet-directory", "parquet-file", "saved"])
def test_hugging_face_forms(tmp_path, form):
    if form == "saved":
        location = make_saved_dataset(tmp_path / "saved", TRAIN, TEST)
    else:
        location = make_parquet_layout(tmp_path / "hub", TRAIN, TEST)
        if form == "parquet-file":
            location = location / "data" / "train-00000-of-00001.parquet"
    source = open_source(str(location), partial=True)
    assert source.name == "huggingface"
    assert_source_matches(source, TRAIN, TEST)


def test_environment_variable_names_the_source(tmp_path, monkeypatch):
    root = make_upstream_layout(tmp_path / "up", TRAIN, TEST)
    monkeypatch.setenv("IMSE_BENCH_DATA", str(root))
    assert open_source(None, partial=True).location == str(root)


@pytest.mark.parametrize("make", [make_upstream_layout, make_parquet_layout, make_datashare_layout])
def test_a_source_claiming_the_full_corpus_is_counted(tmp_path, make):
    root = make(tmp_path / "layout", TRAIN, TEST)
    with pytest.raises(DataError, match=f"{root}: .* train split of 11572 pairs but has 4; the download is incomplete"):
        open_source(str(root))
    assert not list(tmp_path.glob("cache/datashare-16k-*"))  # counted before any resampling


def test_missing_directory_lists_the_three_layouts(tmp_path):
    with pytest.raises(DataError) as error:
        open_source(str(tmp_path / "nowhere"))
    message = str(error.value)
    for expected in ("DataShare 48 kHz", "clean_trainset_28spk_wav", "upstream 16 kHz", "wavs_clean", "hf:", "vb-mini"):
        assert expected in message


def test_unrecognised_directory_says_what_it_holds(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"matches none of the layouts \(it holds \['notes.txt'\]\)"):
        open_source(str(tmp_path / "stuff"))


def test_incomplete_layouts_name_what_is_missing(tmp_path):
    root = make_upstream_layout(tmp_path / "up", TRAIN, TEST)
    (root / "test.txt").unlink()
    with pytest.raises(DataError, match="upstream 16 kHz layout, it lacks test.txt"):
        open_source(str(root), partial=True)
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST)
    shutil.rmtree(root / "noisy_testset_wav")
    with pytest.raises(DataError, match="DataShare 48 kHz layout, it lacks noisy_testset_wav"):
        open_source(str(root), partial=True)


def test_unpaired_files_are_named(tmp_path):
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST)
    write_wav(root / "clean_trainset_28spk_wav" / "p001_077.wav", TRAIN["p001_001"][0], 48_000)
    with pytest.raises(DataError, match=r"clean_trainset_28spk_wav: 1 files have no partner.*p001_077\.wav"):
        open_source(str(root), partial=True)
    root = make_upstream_layout(tmp_path / "up", TRAIN, TEST)
    (root / "wavs_noisy" / "p009_002.wav").unlink()
    with pytest.raises(DataError, match=r"test.txt: 1 listed ids have no file in wavs_noisy/ \(first: p009_002"):
        open_source(str(root), partial=True)


def test_duplicate_ids_are_refused(tmp_path):
    root = make_upstream_layout(tmp_path / "up", TRAIN, TEST)
    with open(root / "training.txt", "a", encoding="utf-8") as stream:
        stream.write("p001_001|somewhere\n")
    with pytest.raises(DataError, match=r"training.txt:5: duplicate id p001_001"):
        open_source(str(root), partial=True)
    root = make_upstream_layout(tmp_path / "up2", TRAIN, TEST)
    (root / "test.txt").write_text("p001_001\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 ids are in both train and test"):
        open_source(str(root), partial=True)
    hub = make_parquet_layout(tmp_path / "hub", TRAIN, TEST)
    path = hub / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), path)
    with pytest.raises(DataError, match="split test has the id p009_001 twice"):
        open_source(str(hub), partial=True)


def bad_upstream(tmp_path, utterance_id, write):
    root = make_upstream_layout(tmp_path / "up", TRAIN, TEST)
    write(root / "wavs_noisy" / f"{utterance_id}.wav")
    return open_source(str(root), partial=True)


def test_wrong_sample_rate_names_the_file(tmp_path):
    source = bad_upstream(tmp_path, "p001_002", lambda path: write_wav(path, TRAIN["p001_002"][1], 8_000))
    with pytest.raises(AudioError, match=r"p001_002.wav: sample rate is 8000 Hz, expected 16000 Hz"):
        source.load("train", "p001_002")


def test_unreadable_file_names_the_file(tmp_path):
    source = bad_upstream(tmp_path, "p001_002", lambda path: path.write_bytes(b"RIFF garbage"))
    with pytest.raises(AudioError, match=r"p001_002.wav: cannot be read as audio"):
        source.load("train", "p001_002")


def test_silent_and_clipped_utterances_are_refused(tmp_path):
    clean = TRAIN["p001_002"][0]
    clipped = np.clip(clean * 100, -1, 1)
    source = bad_upstream(tmp_path, "p001_002", lambda path: write_wav(path, clipped, SAMPLE_RATE))
    with pytest.raises(DataError, match=r"p001_002 noisy is clipped"):
        source.load("train", "p001_002")
    write_wav(source.root / "wavs_clean" / "p001_001.wav", np.zeros_like(clean), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"p001_001.wav: is all zeros"):
        source.load("train", "p001_001")


def test_pairs_of_different_lengths_are_refused(tmp_path):
    source = bad_upstream(tmp_path, "p001_002", lambda path: write_wav(path, TRAIN["p001_002"][1][:-5], SAMPLE_RATE))
    with pytest.raises(DataError, match=r"p001_002 clean has \d+ samples but noisy has \d+"):
        source.load("train", "p001_002")


def test_bad_pairs_can_be_skipped_and_counted(tmp_path):
    source = bad_upstream(tmp_path, "p001_002", lambda path: path.write_bytes(b"not audio"))
    skipped = []
    read = [utterance.id for utterance in source.utterances("train", skipped)]
    assert read == ["p001_001", "p002_001", "p002_002"]
    assert [item.id for item in skipped] == ["p001_002"] and "cannot be read" in skipped[0].reason


def test_hugging_face_rows_at_the_wrong_rate_are_refused(tmp_path):
    hub = make_parquet_layout(tmp_path / "hub", TRAIN, TEST, rate=8_000)
    source = open_source(str(hub), partial=True)
    with pytest.raises(DataError, match=r"test row 0 \(p009_001\) clean: sample rate is 8000 Hz"):
        source.load("test", "p009_001")


def test_resampling_report_is_written(tmp_path):
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST)
    source = open_source(str(root), partial=True)
    report = json.loads((source.root / datashare.RESAMPLING_REPORT).read_text())
    assert report == {"clipped_samples_after_resampling": {}}


@pytest.mark.parametrize("line", ["p009_003 cafe", "p009_003 cafe loud", "p009_003 cafe nan"])
def test_a_damaged_log_file_is_named(tmp_path, line):
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST, logged=True)
    with open(root / "logfiles" / "log_testset.txt", "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
    with pytest.raises(DataError, match=r"log_testset.txt:3: expected '<id> <noise type> <snr>'"):
        open_source(str(root), partial=True)


def test_a_wrong_rate_in_the_48k_release_stops_the_build_and_leaves_no_cache(tmp_path):
    root = make_datashare_layout(tmp_path / "ds", TRAIN, TEST)
    write_wav(root / "noisy_testset_wav" / "p009_002.wav", TEST["p009_002"][1], SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"noisy_testset_wav/p009_002.wav: sample rate is 16000 Hz, expected 48000"):
        open_source(str(root), partial=True)
    assert [path.name for path in (tmp_path / "cache").iterdir()] == []
