"""Pretrained bundles: cache, download, hash checks, unknown files, offline messages."""

from __future__ import annotations

import shutil

import pytest
import torch

from imse.checkpoint import CheckpointError, save_checkpoint
from imse.loading import load_model
from imse.registry import registry


def test_bundles_know_url_hash_and_rate():
    bundle = registry.bundle("imse-vb-3.399")
    assert bundle.url.startswith("https://github.com/XinXinTang123/IMSE/raw/1b0e01dc")
    assert bundle.sample_rate == 16_000 and len(bundle.sha256) == 64
    assert registry.bundle("imse-vb-3.373").commit.startswith("f7bd3874")


def test_unknown_bundle_lists_known_ones():
    with pytest.raises(KeyError, match="imse-vb-3.399"):
        registry.bundle("imse-vb-9.999")


def test_both_imse_bundles_load_from_the_cache_directory(checkpoint_dir, monkeypatch):
    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(checkpoint_dir))
    first, second = load_model("imse-vb-3.399"), load_model("imse-vb-3.373")
    assert first.model_name == second.model_name == "imse"
    assert not torch.equal(first.model.unet.encoder1.embedding.pointwise.weight,
                           second.model.unet.encoder1.embedding.pointwise.weight)


def test_a_path_with_a_known_hash_fixes_the_architecture(checkpoint_dir):
    loaded = load_model(checkpoint_dir / "imse" / "g_best_pesq_3.399")
    assert loaded.bundle is not None and loaded.bundle.name == "imse-vb-3.399"


def test_download_from_a_url_checks_the_hash(checkpoint_dir, tmp_path):
    bundle = registry.bundle("imse-vb-3.399")
    source = checkpoint_dir / bundle.cache_path
    path = bundle.fetch(cache_dir=tmp_path / "cache", url=source.as_uri())
    assert path == tmp_path / "cache" / bundle.cache_path
    wrong = registry.bundle("imse-vb-3.373")
    with pytest.raises(CheckpointError, match="does not match bundle"):
        wrong.fetch(cache_dir=tmp_path / "other", url=source.as_uri())
    assert not (tmp_path / "other" / wrong.cache_path).exists(), "a bad download must not stay in the cache"
    assert list((tmp_path / "other").rglob("*")) == [tmp_path / "other" / "imse"], "nor its temporary file"


def test_offline_download_says_where_to_put_the_file(tmp_path):
    bundle = registry.bundle("imse-vb-3.399")
    with pytest.raises(CheckpointError, match="put it at .*imse/g_best_pesq_3.399"):
        bundle.fetch(cache_dir=tmp_path, url=(tmp_path / "nowhere").as_uri())


def test_a_checkpoint_directory_that_is_a_file_is_named(tmp_path, monkeypatch):
    not_a_directory = tmp_path / "weights.pt"
    not_a_directory.write_bytes(b"x")
    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(not_a_directory))
    with pytest.raises(CheckpointError, match=r"weights.pt \(\$IMSE_CHECKPOINT_DIR\) is a file"):
        registry.bundle("imse-vb-3.399").fetch(download=False)


def test_a_tampered_cached_file_is_refused(checkpoint_dir, tmp_path):
    bundle = registry.bundle("imse-vb-3.399")
    target = tmp_path / bundle.cache_path
    target.parent.mkdir(parents=True)
    shutil.copy(checkpoint_dir / bundle.cache_path, target)
    with open(target, "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(CheckpointError, match="SHA-256 .* does not match"):
        bundle.fetch(cache_dir=tmp_path)


def test_unknown_files_need_the_override_and_a_model(tmp_path):
    path = tmp_path / "mine.pt"
    model = registry.build("imse")
    torch.save({"generator": model.state_dict()}, path)
    with pytest.raises(CheckpointError, match="matches no known bundle"):
        load_model(path)
    with pytest.raises(CheckpointError, match="name it with --model"):
        load_model(path, trust_unknown=True)
    loaded = load_model(path, model="imse", trust_unknown=True)
    assert torch.equal(loaded.model.unet.reduce1.weight, model.unet.reduce1.weight)


def test_a_checkpoint_recording_its_architecture_needs_no_model_name(tmp_path):
    model = registry.build("imse")
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"generator": model.state_dict(), "model": "imse", "config": model.config.to_dict()})
    assert load_model(path, trust_unknown=True).model_name == "imse"


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"generator": {}, "payload": object()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_model(path, model="imse", trust_unknown=True)
