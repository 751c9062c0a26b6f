"""Step-for-step parity of our trainer with the authors' `train.py` loop body.

    python -m bench.train.parity ../shared/parity/imse_train_step.pt [--init BUNDLE_OR_FILE] [--json FILE]
        [--numerics upstream|fast] [--device cpu|cuda] [--threads N]

Exit status 0 when every figure is within tolerance, 1 when one is not, 2 on an unusable
file or option.

A reference file (`../shared/parity/{imse,muse}_train_step.pt`, described in that folder's
README) holds what the official code computed in three steps on one fixed batch: every
loss term and PESQ target per step, both networks' step-1 gradients, and both networks'
weights after the last step. `check_parity` runs our own `Trainer.train_step` (not a copy
of the recipe) from the same state, on the same batch, for as many steps, and compares:

- every loss term within 1e-3 relative (1e-7 absolute for terms near 0), every PESQ target
  within 1e-3;
- step-1 gradients of each network: relative L2 error of all of them together at most
  1e-3, and of each tensor at most 1e-2 relative to max(its norm, 1e-3 x the network's norm)
  (a bias in front of an InstanceNorm has no true gradient, only rounding);
- after the last step, at most 0.5% of each network's weights more than 1e-5 apart.

These are about 10x what separates the official code on one thread from itself on two.

Run as `python -m bench.train.parity`, the check keeps torch's own choice of CPU kernels, as the
authors' code does (`bench.cpu_kernels` pins every other bench command to AVX2, and `check_parity`
called inside one runs pinned like it): the shared references were made with oneDNN's AVX-512
convolutions, and AdamW's first steps turn another kernel's rounding into 38% of IMSE's weights
apart. Its first line names the kernels it ran.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.cpu_kernels import kernel_choice, onednn_limit
from bench.errors import report_error
from bench.train.config import NUMERICS, ConfigError, profile_config
from bench.train.data import DataError, TrainingSplits
from bench.train.loop import RunOptions, Trainer
from bench.train.pesq_targets import BatchTargets, PesqTargets
from imse.arguments import positive_integer
from imse.atomic import atomic_write_text, check_writable_folder
from imse.checkpoint import CheckpointError, load_checkpoint, sha256_of
from imse.dsp import magnitude_phase_stft
from imse.registry import registry
from imse.upstream import declared_mapping

LOSS_RELATIVE = 1e-3
LOSS_ABSOLUTE = 1e-7
PESQ_TARGET = 1e-3
GRADIENT_TOTAL = 1e-3
GRADIENT_TENSOR = 1e-2
GRADIENT_FLOOR = 1e-3
"""A tensor's gradient error is relative to max(its norm, GRADIENT_FLOOR x the network's norm)."""
WEIGHT_DIFFERENCE = 1e-5
WEIGHT_SHARE = 0.005
"""At most this share of a network's weights may end more than WEIGHT_DIFFERENCE apart."""

REFERENCE_KEYS = (
    "about", "crops", "clean_audio", "noisy_audio", "clean_magnitude", "clean_phase", "noisy_magnitude",
    "noisy_phase", "discriminator_init", "steps_json", "generator_gradients_step1",
    "discriminator_gradients_step1", "generator_after", "discriminator_after",
)
LOSS_TERMS = {
    # the reference's key: (our log row's key, factor from ours to theirs)
    "loss_disc_real": ("discriminator_real", 1.0),
    "loss_disc_generated": ("discriminator_enhanced", 1.0),
    "loss_disc": ("discriminator_total", 1.0),
    "loss_metric": ("metric", 1.0),
    "loss_magnitude": ("magnitude", 1.0),
    "loss_instantaneous_phase": ("instantaneous_phase", 1.0),
    "loss_group_delay": ("group_delay", 1.0),
    "loss_instantaneous_frequency": ("instantaneous_frequency", 1.0),
    "loss_complex": ("complex", 2.0),  # upstream logs 2 x MSE and weighs it by 0.1; we log MSE, weighed 0.2
    "loss_generator": ("generator_total", 1.0),
}
_BUNDLE_IN_ABOUT = re.compile(r"bundle ([\w.\-]+)")


class ParityError(ValueError):
    """A reference file that cannot be used, or an --init that does not fit it."""


@dataclass
class Reference:
    """A reference file's contents, checked."""

    path: Path
    contents: dict
    steps: list[dict]

    @property
    def bundle(self) -> str | None:
        """The bundle the official generator started from, as the file's `about` names it."""
        found = _BUNDLE_IN_ABOUT.search(str(self.contents["about"]))
        return found.group(1) if found else None


def load_reference(path: str | Path) -> Reference:
    """Read and check a training-step reference file."""
    path = Path(path)
    if not path.is_file():
        raise ParityError(f"{path}: no such reference file (they are in the shared data's parity/ folder, "
                          "$IMSE_BENCH_SHARED/parity or ../shared/parity)")
    try:
        contents = load_checkpoint(path)
    except CheckpointError as error:
        raise ParityError(str(error)) from error
    missing = [key for key in REFERENCE_KEYS if not isinstance(contents, dict) or key not in contents]
    if missing:
        raise ParityError(f"{path}: not a training-step reference: it lacks {', '.join(missing)}")
    return Reference(path, contents, _checked_steps(path, contents["steps_json"]))


def _checked_steps(path: Path, steps_json: object) -> list[dict]:
    """The reference's steps, each with every loss term as a number and the PESQ targets as a list or null."""
    try:
        steps = json.loads(steps_json)
    except (TypeError, ValueError) as error:
        raise ParityError(f"{path}: its steps_json is not JSON text ({error})") from error
    if not isinstance(steps, list) or not steps:
        raise ParityError(f"{path}: its steps_json must be a non-empty list of steps, one object each")
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            raise ParityError(f"{path}: step {number} of its steps_json is not an object")
        missing = [key for key in (*LOSS_TERMS, "pesq_targets") if key not in step]
        if missing:
            raise ParityError(f"{path}: step {number} of its steps_json lacks {', '.join(missing)}")
        if not all(isinstance(step[key], (int, float)) for key in LOSS_TERMS):
            raise ParityError(f"{path}: step {number} of its steps_json has a loss term that is not a number")
        targets = step["pesq_targets"]
        if targets is not None and not (isinstance(targets, list)
                                         and all(isinstance(target, (int, float)) for target in targets)):
            raise ParityError(f"{path}: step {number}'s pesq_targets must be a list of numbers or null")
    return steps


def _check_batch(reference: Reference) -> None:
    """Refuse, before any work, a batch or discriminator state our trainer could not take."""
    contents, path = reference.contents, reference.path
    clean, noisy = contents["clean_audio"], contents["noisy_audio"]
    if not (isinstance(clean, torch.Tensor) and isinstance(noisy, torch.Tensor)
            and clean.ndim == 2 and clean.shape == noisy.shape):
        raise ParityError(f"{path}: clean_audio and noisy_audio must be tensors of one shape [batch, samples]")
    if not isinstance(contents["crops"], (list, tuple)) or len(contents["crops"]) != clean.shape[0]:
        raise ParityError(f"{path}: crops must name the {clean.shape[0]} crops of the batch")
    if not isinstance(contents["discriminator_init"], dict):
        raise ParityError(f"{path}: discriminator_init must be a state dict")
    for name in ("clean_magnitude", "clean_phase", "noisy_magnitude", "noisy_phase"):
        value = contents[name]
        if not isinstance(value, torch.Tensor) or value.ndim != 3 or value.shape[0] != clean.shape[0]:
            raise ParityError(f"{path}: {name} must be a [batch, frequency, frames] tensor of the batch")


@dataclass
class _Crop:
    id: str
    clean: np.ndarray
    noisy: np.ndarray


@dataclass
class _RecordedTargets(PesqTargets):
    """PESQ targets computed in this process, each batch's kept for the comparison."""

    recorded: list[BatchTargets] = field(default_factory=list)

    def _collect(self, results: list[float | str]) -> BatchTargets:
        batch = super()._collect(results)
        self.recorded.append(batch)
        return batch


class _GradientCapture:
    """Copies every parameter's gradient (by the authors' name) just before an optimiser's first step."""

    def __init__(self, module: torch.nn.Module, optimiser: torch.optim.Optimizer, names: dict[str, str]) -> None:
        self.names = {id(parameter): names[name] for name, parameter in module.named_parameters()}
        self.gradients: dict[str, torch.Tensor] | None = None
        self.handle = optimiser.register_step_pre_hook(self._capture)

    def _capture(self, optimiser: torch.optim.Optimizer, *_: object) -> None:
        # a parameter our forward skips has no gradient; upstream's computes an exact 0 for it (the
        # skip fusion's softmax over one branch), so it is compared as zeros
        self.gradients = {
            self.names[id(parameter)]: (
                torch.zeros_like(parameter) if parameter.grad is None else parameter.grad
            ).detach().cpu().clone()
            for group in optimiser.param_groups for parameter in group["params"]
        }
        self.handle.remove()


@dataclass
class Check:
    """One compared figure: what, the official value, ours, the difference and whether it is within tolerance."""

    step: int | None
    name: str
    official: float
    ours: float
    difference: float
    limit: float
    passed: bool


def _loss_check(step: int, name: str, official: float, ours: float) -> Check:
    absolute = abs(ours - official)
    relative = absolute / abs(official) if official else math.inf
    passed = absolute <= LOSS_ABSOLUTE or relative <= LOSS_RELATIVE
    difference = relative if abs(official) > LOSS_ABSOLUTE / LOSS_RELATIVE else absolute
    limit = LOSS_RELATIVE if abs(official) > LOSS_ABSOLUTE / LOSS_RELATIVE else LOSS_ABSOLUTE
    return Check(step, name, official, ours, difference, limit, passed)


def _pairing(ours: dict[str, torch.Tensor], official: dict[str, torch.Tensor]) -> tuple[list[str], dict]:
    """The names both sides hold with one shape, and what does not pair: names on one side only, shapes that differ."""
    shared = sorted(set(ours) & set(official))
    unpaired = {
        "only_official": sorted(set(official) - set(ours)),
        "only_ours": sorted(set(ours) - set(official)),
        "shape_differs": [name for name in shared if ours[name].shape != official[name].shape],
    }
    return [name for name in shared if name not in unpaired["shape_differs"]], unpaired


def _finite_or_inf(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _ratio(difference: float, scale: float) -> float:
    """difference / scale, with 0/0 as 0, x/0 and NaN as infinitely off."""
    return _finite_or_inf(difference / scale if scale else (0.0 if difference == 0 else math.inf))


def gradient_agreement(ours: dict[str, torch.Tensor], official: dict[str, torch.Tensor]) -> dict:
    """Relative L2 error of all gradients together and the worst tensor's, relative to max(its norm,
    GRADIENT_FLOOR x the network's norm). A tensor that does not pair, or a NaN, fails it."""
    shared, unpaired = _pairing(ours, official)
    figures = {"tensors": len(shared), "relative_l2": math.inf, "worst_tensor": None,
               "worst_tensor_relative": math.inf, **unpaired, "passed": False}
    if not shared:
        return figures
    # per tensor: the norms of the official gradient and of the error; together they give the totals
    norms = {name: official[name].double().norm().item() for name in shared}
    errors = {name: (ours[name].double() - official[name].double()).norm().item() for name in shared}
    norm = math.sqrt(sum(value**2 for value in norms.values()))
    worst_name, worst = shared[0], -1.0
    for name in shared:
        relative = _ratio(errors[name], max(norms[name], GRADIENT_FLOOR * norm))
        if relative > worst:
            worst_name, worst = name, relative
    total = _ratio(math.sqrt(sum(value**2 for value in errors.values())), norm)
    figures.update(relative_l2=total, worst_tensor=worst_name, worst_tensor_relative=worst)
    figures["passed"] = (total <= GRADIENT_TOTAL and worst <= GRADIENT_TENSOR
                         and not any(unpaired.values()))
    return figures


def weight_agreement(ours: dict[str, torch.Tensor], official: dict[str, torch.Tensor]) -> dict:
    """The share of weights more than WEIGHT_DIFFERENCE apart (a NaN on either side counts as apart), and
    the largest difference. A tensor that does not pair fails it."""
    floating = {name for name, value in official.items() if value.is_floating_point()}
    shared, unpaired = _pairing({name: value for name, value in ours.items() if name in floating or
                                 name not in official}, {name: official[name] for name in floating})
    figures = {"tensors": len(shared), "weights": 0, "share_over": 1.0, "largest": math.inf, **unpaired,
               "passed": False}
    if not shared:
        return figures
    difference = torch.cat([(ours[name].double() - official[name].double()).abs().flatten() for name in shared])
    apart = ~(difference <= WEIGHT_DIFFERENCE)
    share = apart.double().mean().item()
    figures.update(weights=difference.numel(), share_over=share,
                   largest=_finite_or_inf(difference.nan_to_num(nan=math.inf).max().item()))
    figures["passed"] = share <= WEIGHT_SHARE and not any(unpaired.values())
    return figures


@dataclass
class ParityResult:
    """What `check_parity` found."""

    reference: Path
    init: str
    model: str
    numerics: str
    losses: list[Check]
    steps: list[dict]
    """Ours per step, in the reference's `steps_json` keys."""
    agreement: dict
    inputs: dict
    """How far our STFT of the batch is from the reference's spectra (a first place to look)."""
    kernels: str
    """The device and, on a CPU, the kernel choice the step ran with (`bench.cpu_kernels`)."""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.losses) and all(
            part["passed"] for part in self.agreement.values()
        )

    def to_json(self) -> dict:
        return {"steps": self.steps, "agreement": self.agreement, "numerics": self.numerics, "kernels": self.kernels}

    def report(self) -> str:
        """The comparison as text tables, and the verdict."""
        lines = [f"{self.reference}: our Trainer step from {self.init} ({self.model}), numerics {self.numerics}, "
                 f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {self.kernels}",
                 "",
                 "| step | term | official | ours | difference | limit | |",
                 "|---|---|---|---|---|---|---|"]
        for check in self.losses:
            kind = "rel" if check.name.startswith("loss") and check.limit == LOSS_RELATIVE else "abs"
            lines.append(f"| {check.step} | {check.name} | {check.official:.9g} | {check.ours:.9g} | "
                         f"{check.difference:.2e} {kind} | {check.limit:.0e} | {'ok' if check.passed else 'FAIL'} |")
        lines += ["", "| agreement | tensors | figure | limit | |", "|---|---|---|---|---|"]
        for name, part in self.agreement.items():
            if "relative_l2" in part:
                figure = (f"relative L2 {part['relative_l2']:.2e}; worst tensor {part['worst_tensor_relative']:.2e} "
                          f"({part['worst_tensor']})")
                limit = f"{GRADIENT_TOTAL:.0e}; {GRADIENT_TENSOR:.0e}"
            else:
                figure = (f"{100 * part['share_over']:.4f}% of {part['weights']:,} weights more than "
                          f"{WEIGHT_DIFFERENCE:.0e} apart; largest {part['largest']:.2e}")
                limit = f"{100 * WEIGHT_SHARE:g}%"
            unpaired = "; ".join(f"{len(part[key])} {key.replace('_', ' ')} (first: {part[key][0]})"
                                 for key in ("only_official", "only_ours", "shape_differs") if part[key])
            if unpaired:
                figure += f"; unpaired: {unpaired}"
            lines.append(f"| {name} | {part['tensors']} | {figure} | {limit} | {'ok' if part['passed'] else 'FAIL'} |")
        lines += ["", "inputs: our STFT of the batch against the reference's: "
                  + ", ".join(f"{key} {value:.2e}" for key, value in self.inputs.items())]
        hint = _kernel_hint(self)
        if hint:
            lines.append(hint)
        lines.append("parity: " + ("PASSED" if self.passed else "FAILED"))
        return "\n".join(lines)


def _kernel_hint(result: ParityResult) -> str | None:
    """Where the generator's weights fail on a CPU without oneDNN's AVX-512 convolutions, say that the shared
    references were made with them (a rounding difference alone fails the weight limit)."""
    if result.agreement["generator_weights"]["passed"] or not result.kernels.startswith("CPU"):
        return None
    limit = onednn_limit()
    if not torch.cpu._is_avx512_supported():
        return ("note: the shared references (../shared/parity) were made with oneDNN's AVX-512 convolutions, which "
                "this CPU lacks; their weights cannot be met here (docs/training-parity.md). Against a reference "
                "made on this machine by scripts/official_train_step.py, IMSE passes.")
    if limit is not None and not limit.upper().startswith("AVX512"):
        return (f"note: oneDNN is limited to {limit} here (ONEDNN_MAX_CPU_ISA); the shared references were made with "
                "its AVX-512 convolutions, and a rounding difference alone fails the weight limit: unset the "
                "variable (docs/training-parity.md).")
    return None


def _model_of(init: str) -> str:
    """The registered model of a bundle name, or of a file (a bundle's by its hash, or one that records it)."""
    if init in registry.bundle_names():
        return registry.bundle(init).model
    path = Path(init)
    if not path.is_file():
        raise ParityError(f"--init {init}: neither a file nor a known bundle ({', '.join(registry.bundle_names())})")
    bundle = registry.bundle_by_sha256(sha256_of(path))
    if bundle is not None:
        return bundle.model
    checkpoint = load_checkpoint(path)
    if isinstance(checkpoint, dict) and "model" in checkpoint:
        return str(checkpoint["model"])
    raise ParityError(f"--init {init}: a file that does not record its model; use a bundle name")


def _trainer(reference: Reference, init: str, model: str, device: str, work: Path, numerics: str) -> Trainer:
    """Our trainer, as the reference's run was set up: its init, discriminator and batch, dropout 0."""
    contents = reference.contents
    clean, noisy = contents["clean_audio"], contents["noisy_audio"]
    crops = [
        _Crop(str(crop), clean[index].numpy(), noisy[index].numpy())
        for index, crop in enumerate(contents["crops"])
    ]
    splits = TrainingSplits(crops, crops, "clean", f"the batch of {reference.path}")
    config = profile_config(
        "paper", model, None, init=init, batch_size=clean.shape[0], segment_size=clean.shape[1],
        discriminator_dropout=0.0, pesq_workers=0, max_steps=len(reference.steps), numerics=numerics,
    )
    try:
        trainer = Trainer(config, RunOptions(run_dir=work, progress=False, device=device), splits)
    except (ConfigError, DataError, CheckpointError) as error:
        raise ParityError(f"--init {init}: our trainer cannot start from it: {error}") from error
    mapping = trainer.discriminator.upstream_key_map()
    official = contents["discriminator_init"]
    missing = sorted(set(mapping.values()) - set(official))
    if missing:
        raise ParityError(f"{reference.path}: discriminator_init lacks {', '.join(missing[:3])}")
    try:
        trainer.discriminator.load_state_dict({ours: official[theirs] for ours, theirs in mapping.items()})
    except RuntimeError as error:
        raise ParityError(f"{reference.path}: discriminator_init does not fit the discriminator: {error}") from error
    trainer.pesq_targets = _RecordedTargets(workers=0)
    return trainer


def _target_checks(step: int, official: list[float] | None, ours: list[float] | None) -> list[Check]:
    """One row per PESQ target; a batch whose targets one side computed and the other did not (a failed
    PESQ drops them), or of other lengths, is a failed row of its own."""
    if official is None or ours is None or len(official) != len(ours):
        described = {"official": "none" if official is None else f"{len(official)}",
                     "ours": "none" if ours is None else f"{len(ours)}"}
        if official is None and ours is None:
            return []
        return [Check(step, f"pesq_targets (official {described['official']}, ours {described['ours']})",
                      math.nan, math.nan, math.inf, PESQ_TARGET, False)]
    pairs = enumerate(zip(official, ours, strict=True))
    return [Check(step, f"pesq_target[{index}]", target, value, abs(value - target), PESQ_TARGET,
                  abs(value - target) <= PESQ_TARGET) for index, (target, value) in pairs]


def _state_by_upstream_names(state: dict[str, torch.Tensor], mapping: dict[str, str]) -> dict[str, torch.Tensor]:
    return {mapping[key]: value.detach().cpu() for key, value in state.items() if key in mapping}


def _checked_init(reference: Reference, init: str | None) -> tuple[str, str]:
    """The generator's start and its model: --init, or the bundle the reference names; another model's is
    refused."""
    named = reference.bundle
    if named is not None and named not in registry.bundle_names():
        if init is None:
            raise ParityError(f"{reference.path}: names bundle {named!r}, which is not registered here; give --init")
        named = None
    if init is None:
        if named is None:
            raise ParityError(f"{reference.path}: its 'about' names no bundle; give --init")
        return named, registry.bundle(named).model
    model = _model_of(init)  # hashes a file once
    if named is not None and model != registry.bundle(named).model:
        raise ParityError(
            f"--init {init}: is a {model!r} generator, but {reference.path} was made from "
            f"{named!r} ({registry.bundle(named).model!r}); compare like with like"
        )
    return init, model


def check_parity(
    reference: Reference, init: str | None = None, device: str = "cpu", numerics: str = "upstream"
) -> ParityResult:
    """Run our trainer's steps on the reference's batch from its state, and compare everything it records.

    `numerics` is the trainer's (`TrainConfig.numerics`): `upstream` by default, the order of operations
    in which our step is the official one's, bit for bit, on the machine that made the reference.
    """
    init, model = _checked_init(reference, init)
    _check_batch(reference)
    if device not in ("cpu", "cuda"):
        raise ParityError(f"--device {device}: use cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParityError("--device cuda: no CUDA device is available here; use --device cpu")
    contents = reference.contents
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as work:
        trainer = _trainer(reference, init, model, device, Path(work), numerics)
        generator_names, generator_constants = declared_mapping(trainer.generator)
        discriminator_names = trainer.discriminator.upstream_key_map()
        captures = {
            "generator_gradients": _GradientCapture(trainer.generator, trainer.generator_optimiser, generator_names),
            "discriminator_gradients": _GradientCapture(
                trainer.discriminator, trainer.discriminator_optimiser, discriminator_names
            ),
        }
        clean, noisy = contents["clean_audio"], contents["noisy_audio"]
        stft = trainer.model_config.front_end.stft
        inputs = {}
        for side, audio in (("clean", clean), ("noisy", noisy)):
            magnitude, phase = magnitude_phase_stft(audio, stft)
            for name, ours in (("magnitude", magnitude), ("phase", phase)):
                theirs = contents[f"{side}_{name}"]
                if theirs.shape != ours.shape:
                    raise ParityError(f"{reference.path}: {side}_{name} has shape {tuple(theirs.shape)}, "
                                      f"the batch's STFT {tuple(ours.shape)}")
            inputs[f"{side} magnitude"] = (magnitude - contents[f"{side}_magnitude"]).abs().max().item()
            inputs[f"{side} phase"] = (phase - contents[f"{side}_phase"]).abs().max().item()
        rows = []
        try:
            for _ in reference.steps:
                row, _timings = trainer.train_step(clean, noisy)
                rows.append(row)
        finally:
            trainer.pesq_targets.close()
            if trainer.tensorboard is not None:
                trainer.tensorboard.close()
    losses, ours_steps = [], []
    for number, (official, row, targets) in enumerate(
        zip(reference.steps, rows, trainer.pesq_targets.recorded, strict=True), start=1
    ):
        ours = {"pesq_targets": None if targets.targets is None else targets.targets.tolist()}
        for key, (our_key, factor) in LOSS_TERMS.items():
            ours[key] = row[our_key] * factor
            losses.append(_loss_check(number, key, float(official[key]), ours[key]))
        losses += _target_checks(number, official["pesq_targets"], ours["pesq_targets"])
        ours_steps.append(ours)
    agreement = {
        name: gradient_agreement(capture.gradients or {}, contents[f"{name}_step1"])
        for name, capture in captures.items()
    }
    # upstream stores tensors we compute (the rotary angles) as buffers: compared as ours computes them
    generator_state = {**_state_by_upstream_names(trainer.generator.state_dict(), generator_names),
                       **{name: value.detach().cpu() for name, value in generator_constants.items()}}
    agreement["generator_weights"] = weight_agreement(generator_state, contents["generator_after"])
    agreement["discriminator_weights"] = weight_agreement(
        _state_by_upstream_names(trainer.discriminator.state_dict(), discriminator_names),
        contents["discriminator_after"],
    )
    kernels = f"CPU: {kernel_choice()}" if device == "cpu" else f"CUDA: {torch.cuda.get_device_name()}"
    return ParityResult(reference.path, init, trainer.config.model, numerics, losses, ours_steps, agreement, inputs,
                        kernels)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.train.parity`: run the check, print the tables, write --json; 0 only when it passes."""
    arguments = argparse.ArgumentParser(prog="python -m bench.train.parity", description=__doc__.split("\n")[0])
    arguments.add_argument("reference", type=Path, help="a training-step reference (../shared/parity/*_train_step.pt)")
    arguments.add_argument("--init", help="the generator's start (default: the bundle the reference names)")
    arguments.add_argument("--json", type=Path, help="write ours as {'steps': [...], 'agreement': {...}}")
    arguments.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    arguments.add_argument("--numerics", default="upstream", choices=NUMERICS,
                           help="the trainer's order of operations (default upstream, the authors')")
    arguments.add_argument("--threads", type=positive_integer, default=1,
                           help="torch intra-op threads (default 1, as the references were made)")
    options = arguments.parse_args(argv)
    torch.set_num_threads(options.threads)
    if options.json is not None:
        if options.json.is_dir():
            return report_error(ParityError(f"--json {options.json}: is a directory; name the file to write"))
        try:  # before the steps, so that a check of minutes is not lost to a path it cannot write
            check_writable_folder(options.json.parent)
        except OSError as error:
            return report_error(ParityError(
                f"--json {options.json}: {options.json.parent} is not a folder this user can write to ({error})"
            ))
    try:
        result = check_parity(load_reference(options.reference), options.init, options.device, options.numerics)
    except (ParityError, CheckpointError) as error:
        return report_error(error)
    except ConfigError as error:  # a batch our trainer cannot take (e.g. a crop length the U-Net refuses)
        return report_error(ParityError(f"{options.reference}: its batch cannot be trained here: {error}"))
    print(result.report())
    if options.json is not None:
        atomic_write_text(options.json, json.dumps(result.to_json(), indent=2) + "\n")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
