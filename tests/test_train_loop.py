"""The trainer end to end on a tiny IMSE: resume bit for bit, determinism, DDP, fine-tuning, clear errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import DataError
from bench.train.config import ConfigError, TrainConfig, profile_config
from bench.train.data import TrainingSplits
from bench.train.logs import TRAIN_LOG, VALIDATION_LOG
from bench.train.loop import BEST, CHECKPOINT, RunOptions, train
from imse.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from imse.unet import ModelConfig, SpeechEnhancementNet
from tests.dummies.models import TINY_OVERRIDES as TINY
from tests.dummies.training import SyntheticUtterance, empty_train_splits, synthetic_splits

REPOSITORY = Path(__file__).resolve().parents[1]
SYNTHETIC = "synthetic"
"""The config's data label for runs on `synthetic_splits`, which the tests hand to the trainer."""
LAUNCHER = """\
import sys

import bench.train.loop
from tests.dummies.training import synthetic_splits

bench.train.loop.open_splits = lambda data, protocol, partial=False: synthetic_splits(protocol)

from bench.train.__main__ import main

sys.exit(main())
"""
"""`python -m bench.train` training on `synthetic_splits`, for the runs in other processes (killed, torchrun)."""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(**overrides) -> TrainConfig:
    """The smoke preset on synthetic data with a tiny IMSE and 44-frame crops."""
    values = dict(
        max_steps=6,
        segment_size=4300,
        validation_interval=3,
        validation_utterances=1,
        checkpoint_interval=100,
        pesq_workers=0,
        model_overrides=TINY,
    )
    values.update(overrides)
    return profile_config("smoke", "imse", values.pop("data", SYNTHETIC), **values)


def train_synthetic(config: TrainConfig, options: RunOptions):
    """Train `config` on the synthetic utterances of its protocol."""
    return train(config, options, splits=synthetic_splits(config.protocol))


def launcher(directory: Path) -> Path:
    """LAUNCHER written to a script in `directory`."""
    path = directory / "train_synthetic.py"
    path.write_text(LAUNCHER, encoding="utf-8")
    return path


def run_options(run_dir: Path, **options) -> RunOptions:
    return RunOptions(run_dir=run_dir, progress=False, **options)


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def assert_same_state(first: dict, second: dict, path: str = "") -> None:
    """Equal nested checkpoints: tensors with torch.equal, everything else with ==."""
    if isinstance(first, torch.Tensor):
        assert isinstance(second, torch.Tensor) and torch.equal(first, second), f"{path} differs"
    elif isinstance(first, dict):
        assert set(first) == set(second), f"{path}: keys differ"
        for key in first:
            assert_same_state(first[key], second[key], f"{path}/{key}")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), f"{path}: lengths differ"
        for index, (left, right) in enumerate(zip(first, second, strict=True)):
            assert_same_state(left, right, f"{path}[{index}]")
    elif isinstance(first, float) and np.isnan(first):
        assert isinstance(second, float) and np.isnan(second), f"{path} differs"
    else:
        assert first == second, f"{path}: {first!r} != {second!r}"


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    """6 uninterrupted steps (4 batches per epoch, so the learning rate decays after step 4)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("train") / "straight"
    result = train_synthetic(tiny_config(), run_options(run_dir))
    torch.set_num_threads(previous)
    assert result.steps == 6 and result.epoch == 1 and not result.stopped_early
    return run_dir


def test_stop_and_resume_ends_bit_for_bit_where_the_uninterrupted_run_ends(straight_run, tmp_path):
    run_dir = tmp_path / "resumed"
    stopped = train_synthetic(tiny_config(), run_options(run_dir, stop_after_steps=2))
    assert stopped.stopped_early and stopped.steps == 2
    resumed = train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    assert resumed.steps == 6 and not resumed.stopped_early
    assert resumed.start_step == 2 and resumed.report().startswith("done: steps 2 -> 6, generator loss ")
    expected, got = load_checkpoint(straight_run / CHECKPOINT), load_checkpoint(run_dir / CHECKPOINT)
    assert_same_state(expected, got)  # weights, optimisers, schedulers, position, random states
    assert_same_state(load_checkpoint(straight_run / BEST), load_checkpoint(run_dir / BEST))
    for log in (TRAIN_LOG, VALIDATION_LOG):
        assert (straight_run / log).read_text() == (run_dir / log).read_text()


def test_resuming_a_finished_run_says_there_is_nothing_to_train(straight_run, tmp_path):
    run_dir = tmp_path / "finished"
    shutil.copytree(straight_run, run_dir)
    before = load_checkpoint(run_dir / CHECKPOINT)
    (run_dir / "summary.json").write_text('{"written by": "the legs that trained"}\n')
    again = train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    assert (again.start_step, again.steps, again.first_loss) == (6, 6, None)
    assert again.report().startswith("nothing to train: the run was already at step 6; best validation PESQ")
    assert_same_state(before, load_checkpoint(run_dir / CHECKPOINT))
    # its summary still names the command and threads of the legs that trained
    assert (run_dir / "summary.json").read_text() == '{"written by": "the legs that trained"}\n'


def test_resume_on_another_thread_count_is_refused(straight_run, tmp_path):
    """The thread count decides the bits on a CPU, so a run resumed on another one is reproducible by neither."""
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_run, run_dir)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT)
    assert checkpoint["torch_threads"] == 1
    checkpoint["torch_threads"] = 2
    save_checkpoint(run_dir / CHECKPOINT, checkpoint)
    with pytest.raises(CheckpointError, match=r"was trained on 2 torch thread\(s\), now 1; resume with --threads 2"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))


def test_killed_process_resumes_to_the_same_weights(straight_run, tmp_path):
    """SIGKILL a CLI run after its first checkpoint, resume it, compare with the uninterrupted run."""
    run_dir = tmp_path / "killed"
    config_path = tmp_path / "config.json"
    tiny_config(checkpoint_interval=2).save(tmp_path)
    command = [sys.executable, str(launcher(tmp_path)), "--config", str(config_path), "--out", str(run_dir)]
    command += ["--threads", "1", "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    process = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (run_dir / CHECKPOINT).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    _, errors = process.communicate()
    assert process.returncode == -signal.SIGKILL, errors.decode()
    killed_at = load_checkpoint(run_dir / CHECKPOINT)["position"]["step"]
    assert 2 <= killed_at < 6
    resumed = train_synthetic(tiny_config(checkpoint_interval=2), run_options(run_dir, resume=True))
    assert resumed.steps == 6
    expected, got = load_checkpoint(straight_run / CHECKPOINT), load_checkpoint(run_dir / CHECKPOINT)
    for name in ("generator", "discriminator", "generator_optimiser", "discriminator_optimiser", "position"):
        assert_same_state(expected[name], got[name], name)
    assert (straight_run / TRAIN_LOG).read_text() == (run_dir / TRAIN_LOG).read_text()


def test_another_seed_gives_other_weights(straight_run, tmp_path):
    other = train_synthetic(
        tiny_config(seed=99, max_steps=1, validation_interval=100), run_options(tmp_path / "seed99")
    )
    assert other.steps == 1
    first = load_checkpoint(straight_run / CHECKPOINT)["generator"]
    second = load_checkpoint(tmp_path / "seed99" / CHECKPOINT)["generator"]
    assert any(not torch.equal(first[key], second[key]) for key in first)


def test_logs_hold_every_loss_term_and_the_best_checkpoint_loads(straight_run):
    rows = read_rows(straight_run / TRAIN_LOG)
    assert [int(row["step"]) for row in rows] == list(range(1, 7))
    for column in ("metric", "magnitude", "group_delay", "complex", "discriminator_real", "discriminator_enhanced"):
        assert all(np.isfinite(float(row[column])) for row in rows)
    # 0.27 s crops of synthetic speech with pauses: PESQ often finds no utterance; each is counted
    summary = json.loads((straight_run / "summary.json").read_text())
    dropped = [row for row in rows if row["enhanced_term_dropped"] == "1"]
    assert summary["dropped_enhanced_terms"] == len(dropped) > 0
    assert sum(summary["pesq_target_failures"].values()) == sum(int(row["pesq_failures"]) for row in rows)
    assert all(float(row["discriminator_enhanced"]) == 0.0 for row in dropped)
    assert {row["learning_rate"] for row in rows} == {repr(5e-4), repr(5e-4 * 0.99)}  # decays at the epoch
    validations = read_rows(straight_run / VALIDATION_LOG)
    assert [int(row["step"]) for row in validations] == [0, 3, 6]
    assert {row["protocol"] for row in validations} == {"clean"}
    assert summary["best_chosen_by"] == "validation PESQ under the 'clean' protocol"

    from imse.loading import load_model

    best = load_checkpoint(straight_run / BEST)
    assert best["protocol"] == "clean" and best["step"] == summary["best_step"]
    loaded = load_model(straight_run / BEST, trust_unknown=True)
    assert loaded.model_name == "imse" and loaded.model.config.dense_channel == 8


def test_two_process_gloo_run_matches_the_single_process_run(tmp_path):
    """The same global batch of 2 split over 2 processes: the same losses, and the same updates to rounding.

    Not bit for bit, by design: the all-reduce sums the gradients in another order, and
    AdamW divides each gradient by its own magnitude, so rounding noise in gradients that
    are zero in exact arithmetic (conv biases in front of an instance norm) becomes
    updates of up to the learning rate. One process with 2 threads instead of 1 differs
    from itself by as much (update vectors 2.6 % apart after two steps; 2 processes: 3.9 %).
    Dropout is off, as each process draws its own masks.
    """
    config = tiny_config(max_steps=2, validation_interval=100, discriminator_dropout=0.0)
    single = train_synthetic(config, run_options(tmp_path / "single"))
    assert single.steps == 2
    config.save(tmp_path)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [str(launcher(tmp_path)), "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "ddp")]
    command += ["--threads", "1", "--no-progress", "--device", "cpu"]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    process = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.count("done: steps 0 -> 2,") == 1  # only rank 0 reports
    single_rows = read_rows(tmp_path / "single" / TRAIN_LOG)
    ddp_rows = read_rows(tmp_path / "ddp" / TRAIN_LOG)
    assert len(single_rows) == len(ddp_rows) == 2
    # step 1 starts from identical weights; step 2 from weights one AdamW step apart (see above)
    for one, two, tolerance in zip(single_rows, ddp_rows, (1e-5, 1e-3), strict=True):
        for column in ("generator_total", "magnitude", "phase", "complex", "metric", "discriminator_total"):
            assert float(one[column]) == pytest.approx(float(two[column]), rel=tolerance, abs=1e-7), column
        assert one["pesq_failures"] == two["pesq_failures"]
    first = load_checkpoint(tmp_path / "single" / CHECKPOINT)
    second = load_checkpoint(tmp_path / "ddp" / CHECKPOINT)
    assert second["world_size"] == 2 and len(second["processes"]) == 2
    torch.manual_seed(config.seed)  # the trainer builds the generator first after seeding
    initial = SpeechEnhancementNet(ModelConfig.from_dict(first["config"])).state_dict()
    updates = [
        torch.cat([(checkpoint["generator"][key] - initial[key]).flatten() for key in initial])
        for checkpoint in (first, second)
    ]
    assert float(torch.nn.functional.cosine_similarity(*updates, dim=0)) > 0.995
    assert float((updates[0] - updates[1]).abs().max()) <= 2 * config.optimiser.learning_rate * 2
    for key, value in first["discriminator"].items():
        torch.testing.assert_close(second["discriminator"][key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_fine_tuning_starts_from_the_pretrained_bundle(tmp_path, checkpoint_dir, sample_dir, monkeypatch):
    from imse.audio import read_audio
    from imse.loading import load_model

    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(checkpoint_dir))
    clean = read_audio(sample_dir / "clean" / "p232_005.wav").samples
    noisy = read_audio(sample_dir / "noisy" / "p232_005.wav").samples
    real = SyntheticUtterance("p232_005", "p232", clean, noisy)  # a real pair in the same container
    splits = TrainingSplits(synthetic_splits().train, [real], "clean", "synthetic + one VoiceBank pair")
    config = profile_config(
        "smoke",
        "imse",
        SYNTHETIC,
        init="imse-vb-3.399",
        max_steps=1,
        segment_size=4300,
        validation_interval=100,
        validation_utterances=1,
        pesq_workers=0,
    )
    result = train(config, run_options(tmp_path / "finetune"), splits=splits)
    untrained_like = result.validations[0]["pesq"]
    assert result.validations[0]["step"] == 0
    assert untrained_like > 2.5  # the bundle's quality on a real VoiceBank pair, not a random model's ~1.1
    bundle = load_model("imse-vb-3.399").model.state_dict()
    tuned = load_checkpoint(tmp_path / "finetune" / CHECKPOINT)["generator"]
    moved = max(float((tuned[key] - bundle[key]).abs().max()) for key in bundle)
    assert 0 < moved < 5e-3  # one AdamW step of lr 5e-4 from the bundle's weights


def test_data_without_train_split_is_refused(tmp_path):
    with pytest.raises(DataError, match="'test-only' has no train split"):
        train(tiny_config(), run_options(tmp_path / "run"), splits=empty_train_splits())


def test_source_in_upstream_layout_with_an_empty_train_list_is_refused(tmp_path):
    for folder in ("wavs_clean", "wavs_noisy"):
        (tmp_path / "corpus" / folder).mkdir(parents=True)
    for name in ("training.txt", "test.txt"):
        (tmp_path / "corpus" / name).write_text("")
    config = tiny_config(data=str(tmp_path / "corpus"), partial_data=True)
    with pytest.raises(DataError, match="has no train split"):
        train(config, run_options(tmp_path / "run"))


def test_resume_with_another_config_is_refused(straight_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_run, run_dir)
    with pytest.raises(ConfigError, match=r"seed: 1234 -> 7"):
        train_synthetic(tiny_config(seed=7), run_options(run_dir, resume=True))
    with pytest.raises(ConfigError, match="already holds a training run"):
        train_synthetic(tiny_config(), run_options(run_dir))
    with pytest.raises(ConfigError, match="no config"):
        train_synthetic(tiny_config(), run_options(tmp_path / "nothing", resume=True))
    # killed before its first checkpoint: --resume starts again from step 0
    early = tiny_config(max_steps=1, validation_interval=100)
    early.save(tmp_path / "early")
    assert train_synthetic(early, run_options(tmp_path / "early", resume=True)).steps == 1


def test_resume_without_the_checkpoint_of_a_run_that_had_one_is_refused(straight_run, tmp_path):
    """A finished run whose checkpoint is gone (or a folder of committed results) is not started again from step 0,
    which would overwrite its logs and best.pt; nor is a checkpoint path that is a directory."""
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_run, run_dir)
    (run_dir / CHECKPOINT).unlink()
    logs = {name: (run_dir / name).read_bytes() for name in (TRAIN_LOG, VALIDATION_LOG, BEST)}
    with pytest.raises(ConfigError, match=r"no checkpoint_last.pt, yet its summary.json says it ran"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    assert {name: (run_dir / name).read_bytes() for name in logs} == logs
    (run_dir / CHECKPOINT).mkdir()
    with pytest.raises(ConfigError, match="is not a file"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    # no summary, but a log past the first checkpoint's step
    killed = tiny_config(checkpoint_interval=2)
    killed.save(tmp_path / "killed")
    shutil.copy(straight_run / TRAIN_LOG, tmp_path / "killed" / TRAIN_LOG)
    with pytest.raises(ConfigError, match=r"train_log.csv reaches step 6, past the first checkpoint at step 2"):
        train_synthetic(killed, run_options(tmp_path / "killed", resume=True))
    # killed while validating step 6 of a run that checkpoints every 6: no checkpoint yet, so it starts again
    validating = tiny_config(checkpoint_interval=6)
    validating.save(tmp_path / "validating")
    shutil.copy(straight_run / TRAIN_LOG, tmp_path / "validating" / TRAIN_LOG)
    assert train_synthetic(validating, run_options(tmp_path / "validating", resume=True)).steps == 6


def test_checkpoint_of_another_model_is_refused(straight_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_run, run_dir)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT)
    checkpoint["model"] = "muse"
    save_checkpoint(run_dir / CHECKPOINT, checkpoint)
    with pytest.raises(CheckpointError, match="holds a 'muse' model, not 'imse'"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    # --init with weights of another architecture
    with pytest.raises(CheckpointError, match="architecture differs"):
        train_synthetic(
            tiny_config(init=str(straight_run / BEST), model_overrides=None), run_options(tmp_path / "init")
        )


def test_damaged_run_directories_are_refused_naming_the_file(straight_run, tmp_path):
    """Each damage gets its own message, never a KeyError's bare key or a JSON traceback."""
    run_dir = tmp_path / "copy"
    shutil.copytree(straight_run, run_dir)
    (run_dir / "config.json").write_text('{"model": "imse", "seed": ')  # truncated
    with pytest.raises(ConfigError, match=r"config\.json: cannot be read as a training config"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    shutil.copy(straight_run / "config.json", run_dir / "config.json")
    save_checkpoint(run_dir / CHECKPOINT, [1, 2, 3])
    with pytest.raises(CheckpointError, match=r"not a bench.train checkpoint \(format 'list'\)"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    checkpoint = load_checkpoint(straight_run / CHECKPOINT)
    del checkpoint["config"], checkpoint["position"]
    save_checkpoint(run_dir / CHECKPOINT, checkpoint)
    with pytest.raises(CheckpointError, match="without config, position; it is damaged"):
        train_synthetic(tiny_config(), run_options(run_dir, resume=True))
    (tmp_path / "a-file").write_text("mine\n")
    with pytest.raises(ConfigError, match="is a file; --out names the run directory"):
        train_synthetic(tiny_config(), run_options(tmp_path / "a-file"))
    assert (tmp_path / "a-file").read_text() == "mine\n"


@pytest.mark.parametrize("arguments", [["--max-steps", "-5"], ["--threads", "0"], ["--pesq-workers", "-1"]])
def test_numbers_below_their_range_are_refused_by_the_parser(tmp_path, arguments, capsys):
    from bench.train.__main__ import main

    with pytest.raises(SystemExit) as stopped:
        main(["--model", "imse", "--out", str(tmp_path / "run"), *arguments])
    assert stopped.value.code == 2 and "must be at least" in capsys.readouterr().err


def test_an_unwritable_out_and_a_device_that_is_not_here_are_refused_before_the_data(tmp_path, capsys):
    """Exit 2 naming --out or --device, before the (missing) data is looked at."""
    from bench.train.__main__ import main

    (tmp_path / "a-file").write_text("mine\n")
    missing = ["--data", str(tmp_path / "no-corpus")]
    assert main(["--model", "imse", "--out", str(tmp_path / "a-file" / "run"), *missing]) == 2
    assert f"--out {tmp_path / 'a-file' / 'run'}: cannot be written" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["--model", "imse", "--out", str(tmp_path / "run"), "--device", "cuda", *missing]) == 2
        assert "--device cuda: no CUDA device is available here" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["--model", "imse", "--out", str(tmp_path / "run"), "--device", "gpu"])
    assert stopped.value.code == 2 and "invalid choice: 'gpu'" in capsys.readouterr().err


def test_a_config_file_that_is_not_json_is_refused(tmp_path, capsys):
    from bench.train.__main__ import main

    (tmp_path / "config.json").write_text("not json\n")
    assert main(["--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "run")]) == 2
    assert f"{tmp_path / 'config.json'}: cannot be read as a training config" in capsys.readouterr().err


def test_a_corrupt_training_file_stops_the_run_at_its_start_naming_it(tmp_path):
    """`describe` skips a corrupt pair; training refuses before its first step instead of crashing mid-run."""
    from tests.dummies.layouts import make_upstream_layout, synthetic_pairs

    train_pairs = synthetic_pairs(speakers=("p001", "p002", "p003"), per_speaker=2)
    root = make_upstream_layout(tmp_path / "corpus", train_pairs, synthetic_pairs(speakers=("p232",), seed=1))
    (root / "wavs_noisy" / "p002_001.wav").write_bytes(b"RIFF\x00\x00garbage")
    config = tiny_config(data=str(root), partial_data=True)
    with pytest.raises(DataError, match=r"1 of the train pairs cannot be used: p002_001: .*p002_001\.wav"):
        train(config, run_options(tmp_path / "run"))
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_numerics_upstream_trains_other_bits_and_resume_keeps_them(tmp_path):
    """`numerics="upstream"` reaches the generator's blocks: two steps end on other weights than the fast order's
    (same seed, same data), within rounding of them; an unknown value is refused; a run cannot be resumed in
    the other order."""
    from bench.train.loop import Trainer
    weights = {}
    for numerics in ("fast", "upstream"):
        run_dir = tmp_path / numerics
        train_synthetic(tiny_config(max_steps=2, numerics=numerics), run_options(run_dir))
        weights[numerics] = load_checkpoint(run_dir / CHECKPOINT)["generator"]
    differing = [name for name in weights["fast"] if not torch.equal(weights["fast"][name], weights["upstream"][name])]
    assert differing
    assert all(torch.allclose(weights["fast"][name], weights["upstream"][name], atol=2e-3) for name in differing)
    trainer = Trainer(tiny_config(numerics="upstream"), run_options(tmp_path / "built"), synthetic_splits("clean"))
    modules = trainer.generator.modules()
    switched = {type(module).__name__ for module in modules if getattr(module, "upstream_order", False)}
    assert switched == {"ChannelLayerNorm", "MagnitudeAwareLinearAttention", "GatedFeedForward", "DenseBlock"}
    with pytest.raises(ConfigError, match="unknown numerics"):
        tiny_config(numerics="exact")
    with pytest.raises(ConfigError, match="numerics: 'fast' -> 'upstream'"):
        train_synthetic(tiny_config(max_steps=2, numerics="upstream"), run_options(tmp_path / "fast", resume=True))
