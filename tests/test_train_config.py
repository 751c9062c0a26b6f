"""A training config written by hand (`--config FILE`): each field of the wrong type or out of range is refused,
naming it, before anything runs."""

from __future__ import annotations

import pytest

from bench.train.config import ConfigError, TrainConfig, profile_config
from bench.train.loop import model_config_for


def edited(path: tuple[str, ...], value: object) -> dict:
    """The smoke preset's config.json contents with one (possibly nested) field set to `value`."""
    values = profile_config("smoke", "imse").to_dict()
    *sections, name = path
    target = values
    for section in sections:
        target = target[section]
    target[name] = value
    return values


@pytest.mark.parametrize(("path", "value", "message"), [
    (("seed",), "abc", "seed must be an int, got 'abc'"),
    (("max_steps",), 2.5, "max_steps must be an int, got 2.5"),
    (("batch_size",), True, "batch_size must be an int, got True"),
    (("partial_data",), 1, "partial_data must be a bool, got 1"),
    (("data",), 3, "data must be a str, got 3"),
    (("model_overrides",), "abc", "model_overrides must be a dict, got 'abc'"),
    (("validation_utterances",), 0, "validation_utterances must be positive"),
    (("discriminator_dropout",), 1.5, r"discriminator_dropout must be in \[0, 1\), got 1.5"),
    (("optimiser", "learning_rate"), -1, "learning_rate must be positive"),
    (("optimiser", "learning_rate"), "0.1", "optimiser.learning_rate must be a float, got '0.1'"),
    (("optimiser", "betas"), 5, "optimiser.betas must be a pair of numbers, got 5"),
    (("optimiser", "betas"), [0.8, 2], r"optimiser.betas must each be in \[0, 1\)"),
    (("losses", "metric"), None, "losses.metric must be a float, got None"),
    (("losses", "metric"), -5, "losses.metric must be a finite weight, 0 or more, got -5"),
    (("losses", "phase"), float("nan"), "losses.phase must be a finite weight"),
    (("optimiser", "weight_decay"), float("nan"), "weight_decay at least 0"),
    (("optimiser", "learning_rate"), float("inf"), "learning_rate must be positive"),
    (("optimiser",), None, "optimiser must be an object of fields, got None"),
    (("losses",), [1, 2], "losses must be an object of fields"),
])
def test_a_field_of_the_wrong_type_or_range_is_refused_by_name(path, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(edited(path, value))


def test_the_values_json_gives_back_are_accepted():
    """Integers where a float is due, lists for the betas and null for the optional fields load as before."""
    config = TrainConfig.from_dict(edited(("optimiser", "learning_rate"), 1))
    assert config.optimiser.learning_rate == 1 and config.optimiser.betas == (0.8, 0.99)
    assert TrainConfig.from_dict(edited(("max_steps",), None)).max_steps is None


@pytest.mark.parametrize("overrides", [{"nope": 1}, {"dense_channel": "8"}])
def test_model_overrides_the_model_cannot_take_are_refused(overrides):
    config = TrainConfig.from_dict(edited(("model_overrides",), overrides))
    with pytest.raises(ConfigError, match="model_overrides do not fit 'imse'"):
        model_config_for(config)


def test_the_cli_records_the_data_it_will_read_by_name_and_refuses_a_profile_beside_a_config(tmp_path, monkeypatch):
    """Without --data, config.json names the source ($IMSE_BENCH_DATA, else vb-mini) instead of null; --profile
    with --config (which holds its own profile) is refused instead of ignored."""
    from bench.train.__main__ import build_config, parser

    monkeypatch.delenv("IMSE_BENCH_DATA", raising=False)
    assert build_config(parser().parse_args(["--model", "imse", "--out", "run"])).data == "vb-mini"
    monkeypatch.setenv("IMSE_BENCH_DATA", "/corpora/vbdmd")
    config = build_config(parser().parse_args(["--model", "imse", "--out", "run"]))
    assert (config.data, config.profile) == ("/corpora/vbdmd", "paper")
    path = config.save(tmp_path)
    assert build_config(parser().parse_args(["--config", str(path), "--out", "run"])) == config
    with pytest.raises(ConfigError, match="holds its own profile"):
        build_config(parser().parse_args(["--config", str(path), "--profile", "cpu", "--out", "run"]))
