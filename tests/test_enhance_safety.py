"""`python -m imse.enhance` never loses a user's files and never clips or shortens in silence."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from imse.checkpoint import save_checkpoint
from imse.enhance import enhance_files
from imse.enhance.__main__ import main
from tests.dummies.audio_files import write_bad_inputs
from tests.dummies.models import tiny_model


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, {"generator": model.state_dict(), "model": "imse", "config": model.config.to_dict()})
    return ["--checkpoint", str(path), "--trust-unknown-checkpoint"]


def test_an_output_dir_that_is_the_input_dir_is_refused_before_any_work(tmp_path, checkpoint, capsys):
    files = write_bad_inputs(tmp_path / "in")
    before = files["good"].read_bytes()
    assert main([str(tmp_path / "in"), *checkpoint, "--output-dir", str(tmp_path / "in")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert files["good"].read_bytes() == before


def test_an_output_path_through_a_link_to_the_inputs_is_refused(tmp_path, checkpoint, capsys):
    write_bad_inputs(tmp_path / "in")
    os.symlink(tmp_path / "in", tmp_path / "alias")
    assert main([str(tmp_path / "in" / "good.wav"), *checkpoint, "--output-dir", str(tmp_path / "alias")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_an_output_dir_that_is_a_file_is_refused_up_front(tmp_path, checkpoint, capsys):
    files = write_bad_inputs(tmp_path / "in")
    (tmp_path / "taken").write_text("mine\n")
    assert main([str(files["good"]), *checkpoint, "--output-dir", str(tmp_path / "taken")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "mine\n"


def test_an_output_dir_that_cannot_be_made_is_refused_up_front(tmp_path, checkpoint, capsys):
    """Below a file no directory can be made (read-only directories would not stop root, who runs CI)."""
    files = write_bad_inputs(tmp_path / "in")
    (tmp_path / "taken").write_text("mine\n")
    assert main([str(files["good"]), *checkpoint, "--output-dir", str(tmp_path / "taken" / "out")]) == 2
    assert "cannot be written" in capsys.readouterr().err


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_threads_below_one_are_refused(tmp_path, checkpoint, threads):
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), *checkpoint, "--output-dir", str(tmp_path / "out"), "--threads", threads])
    assert stopped.value.code == 2


def test_clipped_pcm16_samples_are_counted_and_float_keeps_them(tmp_path):
    """A model whose output exceeds full scale: PCM_16 clips (and says how many), FLOAT does not."""
    model = tiny_model()
    square = np.sign(np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
    soundfile.write(tmp_path / "square.wav", square, 16_000, subtype="FLOAT")
    with_clipping = enhance_files([tmp_path / "square.wav"], model, tmp_path / "pcm", progress=False)
    kept = enhance_files([tmp_path / "square.wav"], model, tmp_path / "float", subtype="FLOAT", progress=False)
    floating, _ = soundfile.read(tmp_path / "float" / "square.wav", dtype="float32")
    beyond = int(np.count_nonzero(np.abs(floating) > 1.0))
    assert beyond > 0  # the tiny random model does not keep a full-scale square within [-1, 1]
    assert with_clipping.clipped == [(tmp_path / "pcm" / "square.wav", beyond)]
    assert kept.clipped == []
    assert np.abs(soundfile.read(tmp_path / "pcm" / "square.wav")[0]).max() <= 1.0


def test_a_directory_says_what_it_passed_over_and_why_a_link_failed(tmp_path, checkpoint, capsys):
    """An OGG is enhanced like a WAV; a text file and a sub-directory are named as skipped; a
    broken link is called one, not "no such file"."""
    files = write_bad_inputs(tmp_path / "in")
    good, rate = soundfile.read(files["good"], dtype="float32")
    folder = tmp_path / "mixed"
    folder.mkdir()
    soundfile.write(folder / "speech.ogg", good, rate, format="OGG", subtype="VORBIS")
    (folder / "notes.txt").write_text("not audio\n")
    (folder / "older").mkdir()
    os.symlink(tmp_path / "gone.wav", folder / "dangling.wav")
    assert main([str(folder), *checkpoint, "--output-dir", str(tmp_path / "out")]) == 1
    errors = capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["speech.wav"]
    assert f"{folder / 'notes.txt'} skipped" in errors and f"{folder / 'older'} skipped" in errors
    assert f"{folder / 'dangling.wav'}: is a broken symbolic link" in errors
    assert "1 enhanced" in errors and "1 failed" in errors


def test_a_whole_utterance_pass_that_cannot_fit_is_refused_per_file(tmp_path, monkeypatch):
    """Ten minutes in --mode full needs about 40 GiB: refused with the way out, and the batch goes on."""
    model = tiny_model()
    monkeypatch.setattr(importlib.import_module("imse.enhance"), "available_memory", lambda: 2 * 2**30)
    files = write_bad_inputs(tmp_path / "in")
    long = np.tile(soundfile.read(files["good"], dtype="float32")[0], 300)  # 300 s
    soundfile.write(tmp_path / "in" / "long.wav", long, 16_000)
    report = enhance_files([files["good"], tmp_path / "in" / "long.wav"], model, tmp_path / "out", mode="full",
                           progress=False)
    assert [path.name for path in report.written] == ["good.wav"]
    [(path, message)] = report.failures
    assert path.name == "long.wav" and "--mode segmented" in message and "GiB" in message


def test_an_output_name_taken_by_a_directory_fails_that_file_only(tmp_path, checkpoint, capsys):
    files = write_bad_inputs(tmp_path / "in")
    (tmp_path / "out" / "good.wav").mkdir(parents=True)
    assert main([str(files["good"]), str(files["rate_8k"]), *checkpoint, "--output-dir", str(tmp_path / "out")]) == 1
    errors = capsys.readouterr().err
    assert "good.wav is a directory" in errors and "1 enhanced" in errors
    assert (tmp_path / "out" / "rate_8k.wav").is_file()


def test_the_memory_estimate_heeds_an_address_space_limit(tmp_path):
    """A ulimit -v below what a pass needs is refused up front, as MemAvailable alone would not."""
    script = (
        "import resource\n"
        "from imse.enhance import available_memory\n"
        "free = available_memory()\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, hard))\n"
        "print(free > 3 * 2**30, available_memory() < 3 * 2**30)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split()[1] == "True"
