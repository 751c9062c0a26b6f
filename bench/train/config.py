"""Training configuration: dataclasses with the `paper`, `cpu` and `smoke` presets, saved to RUN_DIR/config.json.

Everything that changes the trained weights lives in `TrainConfig`. Things that do not
(where to write, whether to show a progress bar, when to stop early for a test) are
options of the run, not of the config, so that `--resume` can insist the config is
unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from imse.atomic import atomic_write_text
from imse.frontend import SEGMENT_SIZE, UNET_STFT

PROFILES = ("paper", "cpu", "smoke")
PROTOCOLS = ("clean", "upstream")
NUMERICS = ("fast", "upstream")
CONFIG_FILE = "config.json"

#: Epochs of the official recipes (both repositories); other models default to IMSE's.
PAPER_EPOCHS = {"imse": 100, "muse": 200}


class ConfigError(ValueError):
    """A config that cannot be used, or a resume whose config differs from the run's."""


# Where a nested config's fields sit in config.json.
_SECTIONS = {"OptimiserConfig": "optimiser.", "LossWeights": "losses."}
# A field annotation -> the JSON values it takes (bool is no number here, though Python counts it as int).
_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "dict": (dict,)}


def check_field_types(instance: object) -> None:
    """Refuse a field whose value is not of its annotated type (`int`, `float`, `bool`, `str`, `dict`, each
    optionally `| None`; `tuple[float, float]`), naming the field: a config file is JSON written by hand."""
    for item in dataclasses.fields(instance):
        value = getattr(instance, item.name)
        annotation = str(item.type)
        where = _SECTIONS.get(type(instance).__name__, "") + item.name
        if annotation.endswith(" | None"):
            if value is None:
                continue
            annotation = annotation[: -len(" | None")]
        if annotation == "tuple[float, float]":
            if not (isinstance(value, tuple) and len(value) == 2 and all(_is(part, "float") for part in value)):
                raise ConfigError(f"{where} must be a pair of numbers, got {value!r}")
        elif annotation in _TYPES and not _is(value, annotation):
            raise ConfigError(f"{where} must be {'a' if annotation != 'int' else 'an'} {annotation}, got {value!r}")


def _is(value: object, annotation: str) -> bool:
    return isinstance(value, _TYPES[annotation]) and (annotation == "bool" or not isinstance(value, bool))


@dataclass(frozen=True)
class OptimiserConfig:
    """AdamW for both networks and an ExponentialLR stepped once per epoch (upstream's values)."""

    learning_rate: float = 5e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    """torch's AdamW default, which upstream leaves in place."""
    learning_rate_decay: float = 0.99

    def __post_init__(self) -> None:
        check_field_types(self)
        finite = all(math.isfinite(value) for value in (self.learning_rate, self.weight_decay, *self.betas))
        in_range = self.learning_rate > 0 and 0 < self.learning_rate_decay <= 1 and self.weight_decay >= 0
        if not (finite and in_range):
            raise ConfigError(
                f"optimiser: learning_rate must be positive, learning_rate_decay in (0, 1] and weight_decay at "
                f"least 0, got {self.learning_rate}, {self.learning_rate_decay}, {self.weight_decay}"
            )
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ConfigError(f"optimiser.betas must each be in [0, 1), got {self.betas}")


@dataclass(frozen=True)
class LossWeights:
    """Generator loss = metric*L_metric + magnitude*L_mag + phase*(IP+GD+IAF) + complex*MSE(complex)."""

    metric: float = 0.05
    magnitude: float = 0.9
    phase: float = 0.3
    complex: float = 0.2
    """Upstream writes it as 0.1 * (2 * MSE)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        for item in dataclasses.fields(self):
            weight = getattr(self, item.name)
            if not (math.isfinite(weight) and weight >= 0):
                raise ConfigError(f"losses.{item.name} must be a finite weight, 0 or more, got {weight}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `profile_config` builds the presets; fields may be overridden after."""

    model: str
    data: str | None
    profile: str = "paper"
    seed: int = 1234
    epochs: int = 100
    max_steps: int | None = None
    """Stop after this many generator steps in total (the smoke profile's budget); None: all epochs."""
    batch_size: int = 2
    """The global batch: with N processes each takes batch_size / N of it."""
    segment_size: int = SEGMENT_SIZE
    """Samples per random training crop; its STFT frame count must be a multiple of 4."""
    partial_data: bool = False
    """The source is a deliberate subset of VoiceBank+DEMAND: skip the 11,572 / 824 count check."""
    protocol: str = "clean"
    """`clean`: validate on held-out training speakers; `upstream`: on the test set, as upstream did."""
    validation_interval: int = 1000
    validation_utterances: int | None = None
    """Validate on the first N utterances of the validation split (None: all of it)."""
    validation_measures: str = "pesq"
    """`pesq`: wideband PESQ only (upstream's choice); `all`: the whole metric suite."""
    checkpoint_interval: int = 1000
    log_interval: int = 1
    pesq_workers: int = 2
    """Processes computing the discriminator's PESQ targets; 0 computes them in this process."""
    discriminator_dropout: float = 0.3
    init: str | None = None
    """A pretrained bundle name or a checkpoint file whose generator weights start the run."""
    model_overrides: dict | None = None
    """ModelConfig fields that replace the registered model's (tests use a tiny width)."""
    deterministic: bool = False
    """On GPU, select deterministic kernels (slower); on CPU training is deterministic anyway."""
    numerics: str = "fast"
    """`fast`: our order of operations; `upstream`: the authors' (`imse.upstream.use_upstream_order`), which
    on the same machine trains on the official code's bits (docs/training-parity.md), more slowly."""
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    losses: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.profile not in PROFILES:
            raise ConfigError(f"unknown profile {self.profile!r}; use one of {PROFILES}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; use one of {PROTOCOLS}")
        if self.numerics not in NUMERICS:
            raise ConfigError(f"unknown numerics {self.numerics!r}; use one of {NUMERICS}")
        if self.validation_measures not in ("pesq", "all"):
            raise ConfigError(f"validation_measures must be 'pesq' or 'all', got {self.validation_measures!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ConfigError("batch_size and epochs must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be positive (or unset), got {self.max_steps}")
        if self.pesq_workers < 0:
            raise ConfigError(f"pesq_workers must be 0 (in-process) or more, got {self.pesq_workers}")
        for name in ("validation_interval", "checkpoint_interval", "log_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive")
        if self.validation_utterances is not None and self.validation_utterances < 1:
            raise ConfigError(
                f"validation_utterances must be positive (or unset for all), got {self.validation_utterances}"
            )
        if not 0 <= self.discriminator_dropout < 1:
            raise ConfigError(f"discriminator_dropout must be in [0, 1), got {self.discriminator_dropout}")
        # the U-Nets' hop is fixed by the models; a centred STFT has samples // hop + 1 frames
        frames = UNET_STFT.frames(self.segment_size)
        if frames % 4:
            four_frames = 4 * UNET_STFT.hop_length
            below = (self.segment_size // four_frames) * four_frames - UNET_STFT.hop_length
            raise ConfigError(
                f"segment_size {self.segment_size} gives {frames} STFT frames; the U-Net needs a multiple of 4 "
                f"(e.g. {below} or {below + four_frames})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"a training config is a JSON object of fields, not {type(values).__name__}")
        values = dict(values)
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config fields {unknown}")
        optimiser, losses = values.pop("optimiser", {}), values.pop("losses", {})
        for name, section in (("optimiser", optimiser), ("losses", losses)):
            if not isinstance(section, dict):
                raise ConfigError(f"{name} must be an object of fields, got {section!r}")
        optimiser = dict(optimiser)
        if isinstance(optimiser.get("betas"), list):
            optimiser["betas"] = tuple(optimiser["betas"])
        try:
            return cls(**values, optimiser=OptimiserConfig(**optimiser), losses=LossWeights(**losses))
        except TypeError as error:  # a missing field, or an unknown one inside optimiser or losses
            raise ConfigError(f"the config's fields do not fit: {error}") from error

    def save(self, run_dir: str | os.PathLike) -> Path:
        path = Path(run_dir) / CONFIG_FILE
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> TrainConfig:
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise ConfigError(f"{path}: no config; is {run_dir} a training run directory?")
        return load_config_file(path)


def profile_config(profile: str, model: str, data: str | None = None, **overrides) -> TrainConfig:
    """The `paper`, `cpu` or `smoke` preset for `model`, with `overrides` applied (None values are ignored).

    `paper`: the authors' recipe on the full corpus (days on one GPU). `cpu`: the same losses
    and optimiser on VB-mini, sized to train from random weights in about 90 minutes on two
    CPU cores (short crops, many steps, sparse validation). `smoke`: 100 steps, a check that
    the loop runs and learns at all, not a model to compare.
    """
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if profile == "paper":
        preset = dict(epochs=PAPER_EPOCHS.get(model, PAPER_EPOCHS["imse"]))
    elif profile == "cpu":
        preset = dict(
            data="vb-mini",
            epochs=1000,
            max_steps=2_000,
            segment_size=7_900,  # 80 frames: more steps per minute than upstream's 2 s crops
            validation_interval=250,
            validation_utterances=8,
            checkpoint_interval=250,
        )
    elif profile == "smoke":
        preset = dict(
            data="vb-mini",
            epochs=1000,
            max_steps=100,
            segment_size=7_900,  # 80 frames
            validation_interval=50,
            validation_utterances=4,
            checkpoint_interval=50,
        )
    else:
        raise ConfigError(f"unknown profile {profile!r}; use one of {PROFILES}")
    if data is not None:
        preset["data"] = data
    preset.setdefault("data", None)
    preset.update(overrides)
    return TrainConfig(model=model, profile=profile, **preset)


def config_differences(saved: TrainConfig, requested: TrainConfig) -> list[str]:
    """`field: saved -> requested` for each field that differs (nested fields dotted)."""

    def flatten(values: dict, prefix: str = "") -> dict:
        flat = {}
        for key, value in values.items():
            if isinstance(value, dict) and key != "model_overrides":
                flat.update(flatten(value, f"{prefix}{key}."))
            else:
                flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
        return flat

    old, new = flatten(saved.to_dict()), flatten(requested.to_dict())
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(old) if old.get(key) != new.get(key)]


def load_config_file(path: str | os.PathLike) -> TrainConfig:
    """A TrainConfig from a JSON file; a file that is not one is refused, naming it."""
    path = Path(path)
    try:
        return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read as a training config ({error})") from error
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
