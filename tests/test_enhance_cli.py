"""`python -m imse.enhance` on good and bad input: per-file errors, a summary, the exit code."""

from __future__ import annotations

import numpy as np
import soundfile

from imse.checkpoint import save_checkpoint
from imse.enhance.__main__ import main
from tests.dummies.audio_files import write_bad_inputs
from tests.dummies.models import tiny_model


def tiny_checkpoint(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, {"generator": model.state_dict(), "model": "imse", "config": model.config.to_dict()})
    return path


def test_bad_files_are_reported_and_the_rest_enhanced(tmp_path, capsys):
    files = write_bad_inputs(tmp_path / "in")
    output = tmp_path / "out"
    code = main([str(tmp_path / "in"), "--checkpoint", str(tiny_checkpoint(tmp_path)),
                 "--trust-unknown-checkpoint", "--output-dir", str(output)])
    errors = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in output.iterdir()) == ["good.wav", "rate_8k.wav"]
    for kind, phrase in [("stereo", "2 channels"), ("silent", "all zeros"), ("empty", "empty"),
                         ("short", "too short"), ("corrupt", "cannot be read")]:
        assert any(str(files[kind]) in line and phrase in line for line in errors.splitlines()), kind
    assert "rate_8k.wav was 8000 Hz; resampled" in errors
    assert "2 enhanced" in errors and "1 resampled" in errors and "5 failed" in errors
    written, rate = soundfile.read(output / "rate_8k.wav")
    assert rate == 16_000 and len(written) == 16_000


def test_downmix_and_float_subtype(tmp_path, capsys):
    files = write_bad_inputs(tmp_path / "in")
    output = tmp_path / "out"
    code = main([str(files["stereo"]), "--checkpoint", str(tiny_checkpoint(tmp_path)), "--trust-unknown-checkpoint",
                 "--output-dir", str(output), "--downmix", "--subtype", "FLOAT", "--mode", "full"])
    assert code == 0
    assert "averaged to mono" in capsys.readouterr().err
    info = soundfile.info(output / "stereo.wav")
    assert info.subtype == "FLOAT" and info.channels == 1


def test_unknown_checkpoint_name_exits_with_the_known_bundles(tmp_path, capsys):
    code = main([str(tmp_path), "--checkpoint", "no-such-bundle", "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "imse-vb-3.399" in capsys.readouterr().err


def test_output_is_pcm16_by_default(tmp_path):
    files = write_bad_inputs(tmp_path / "in")
    output = tmp_path / "out"
    assert main([str(files["good"]), "--checkpoint", str(tiny_checkpoint(tmp_path)), "--trust-unknown-checkpoint",
                 "--output-dir", str(output)]) == 0
    assert soundfile.info(output / "good.wav").subtype == "PCM_16"
    assert np.abs(soundfile.read(output / "good.wav")[0]).max() > 0
