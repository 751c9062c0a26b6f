"""The trainer: generator and MetricGAN discriminator steps, validation, checkpoints and resume.

One step follows the official recipe: enhance a batch of crops; compute the PESQ targets
of the enhanced crops in worker processes while the discriminator scores (clean, clean)
and (clean, enhanced); update the discriminator; then update the generator with the
metric, magnitude, phase and complex losses against the updated discriminator. The
learning rates decay once per epoch.

A run directory holds config.json, checkpoint_last.pt (everything needed to continue:
both networks, both optimisers and schedulers, the step, the position in the data order
and every process's random states), best.pt (the generator with the best validation
PESQ, and the protocol that chose it), the CSV logs and summary.json.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bench.provenance import command_line, package_versions, running_revision
from bench.train import distributed
from bench.train.batches import CropBatches
from bench.train.config import ConfigError, OptimiserConfig, TrainConfig, config_differences
from bench.train.data import TrainingSplits, check_splits, open_splits
from bench.train.determinism import random_states, restore_random_states, seed_everything, use_deterministic_kernels
from bench.train.discriminator import MetricDiscriminator
from bench.train.logs import SUMMARY, TIMING_LOG, TRAIN_LOG, VALIDATION_LOG, CsvLog, TensorBoard
from bench.train.losses import GeneratorLoss, Spectrum, discriminator_loss, generator_loss
from bench.train.pesq_targets import BatchTargets, PendingTargets, PesqTargets
from bench.train.validation import ValidationResult, validate
from imse.atomic import atomic_write_text, check_writable_folder
from imse.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from imse.dsp import complex_from_polar, magnitude_phase_istft, magnitude_phase_stft
from imse.registry import registry
from imse.unet import ModelConfig, SpeechEnhancementNet
from imse.upstream import use_upstream_order

CHECKPOINT = "checkpoint_last.pt"
BEST = "best.pt"
CHECKPOINT_FORMAT = "bench.train/1"
CHECKPOINT_KEYS = frozenset({
    "config", "discriminator", "discriminator_optimiser", "discriminator_scheduler", "generator",
    "generator_optimiser", "generator_scheduler", "model", "position", "processes", "world_size",
})
"""What `_restore` reads of a checkpoint."""

GENERATOR_TERMS = (
    "metric",
    "magnitude",
    "instantaneous_phase",
    "group_delay",
    "instantaneous_frequency",
    "phase",
    "complex",
)
LOGGED_LOSSES = (
    "generator_total",
    *GENERATOR_TERMS,
    "discriminator_total",
    "discriminator_real",
    "discriminator_enhanced",
)
TRAIN_COLUMNS = [
    "step",
    "epoch",
    "learning_rate",
    *LOGGED_LOSSES,
    "batch_pesq",
    "pesq_failures",
    "enhanced_term_dropped",
]
TIMING_COLUMNS = [
    "step",
    "seconds",
    "forward",
    "pesq_wait",
    "discriminator",
    "generator_loss",
    "backward",
    "samples_per_second",
]
VALIDATION_COLUMNS = [
    "step",
    "epoch",
    "protocol",
    "utterances",
    "failures",
    *("pesq", "csig", "cbak", "covl", "ssnr", "stoi"),
    "best_pesq",
    "best_step",
]


@dataclass
class RunOptions:
    """How to run, as opposed to what to train (which is `TrainConfig`)."""

    run_dir: Path
    resume: bool = False
    stop_after_steps: int | None = None
    """Stop (checkpointed) after this many steps, as if killed there; `--resume` continues."""
    progress: bool = True
    device: str = "auto"


@dataclass
class Position:
    """Where the run is: steps done, and the next batch of the data order."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_pesq: float = float("nan")
    best_step: int | None = None


@dataclass
class Invocation:
    """What one call of `Trainer.run` has done so far."""

    start_step: int
    validations: list[dict | None] = field(default_factory=list)
    """Validation records; None on the processes other than rank 0."""
    first_loss: float | None = None
    last_loss: float | None = None
    stopped_early: bool = False

    def record(self, generator_loss: float) -> None:
        """Note a step's generator loss."""
        if self.first_loss is None:
            self.first_loss = generator_loss
        self.last_loss = generator_loss


@dataclass
class TrainResult:
    """What a run did; the same facts are in RUN_DIR/summary.json."""

    run_dir: Path
    start_step: int
    """The step this invocation started from: 0, or the checkpoint's step on --resume."""
    steps: int
    epoch: int
    stopped_early: bool
    best_pesq: float
    best_step: int | None
    protocol: str
    validations: list[dict] = field(default_factory=list)
    pesq_target_failures: dict = field(default_factory=dict)
    dropped_enhanced_terms: int = 0
    first_loss: float | None = None
    """The generator loss of this invocation's first step (None when it took none)."""
    last_loss: float | None = None

    def report(self) -> str:
        """One line on what this invocation did, for the end of `python -m bench.train`."""
        best = "none" if math.isnan(self.best_pesq) else f"{self.best_pesq:.3f} at step {self.best_step}"
        if self.first_loss is None:
            done = f"nothing to train: the run was already at step {self.steps}"
        else:
            state = "stopped early" if self.stopped_early else "done"
            done = (
                f"{state}: steps {self.start_step} -> {self.steps}, generator loss "
                f"{self.first_loss:.4f} -> {self.last_loss:.4f}"
            )
        return (
            f"{done}; best validation PESQ ({self.protocol} protocol) {best}; "
            f"PESQ-target failures {self.pesq_target_failures or 0} "
            f"({self.dropped_enhanced_terms} discriminator terms dropped); run directory {self.run_dir}"
        )


def recipe_refusal(model: str) -> str | None:
    """Why this recipe cannot train a registered model, or None if it can.

    The recipe (MetricGAN discriminator, compressed-magnitude and phase losses, 30,700-sample
    crops) is the U-Nets': a model with another front end (GTCRN's complex spectrum) is refused.
    """
    base = registry.model(model).config
    representation = base.front_end.representation
    if representation == "compressed-polar" and isinstance(base, ModelConfig):
        return None
    return (f"model {model!r} cannot be trained with this recipe: it is the U-Nets' MetricGAN recipe for a "
            f"'compressed-polar' front end, and {model!r} declares a {representation!r} one "
            "(train it with its authors' own recipe)")


def model_config_for(config: TrainConfig) -> ModelConfig:
    """The registered model's architecture with the config's overrides applied; a model the
    recipe cannot train is refused (`recipe_refusal`)."""
    refusal = recipe_refusal(config.model)
    if refusal:
        raise ConfigError(refusal)
    base = registry.model(config.model).config
    if not config.model_overrides:
        return base
    try:
        return type(base).from_dict({**base.to_dict(), **config.model_overrides})
    except (TypeError, ValueError) as error:  # a field the model's config does not have, or a value it refuses
        raise ConfigError(f"model_overrides do not fit {config.model!r}'s config: {error}") from error


def _load_initial_weights(generator: SpeechEnhancementNet, config: TrainConfig, model_config: ModelConfig) -> None:
    from imse.loading import load_model

    loaded = load_model(config.init, model=config.model, trust_unknown=True)
    if loaded.model.config != model_config:
        raise CheckpointError(
            f"--init {config.init}: its architecture differs from the {config.model!r} model being trained"
        )
    generator.load_state_dict(loaded.model.state_dict())


def _adamw(module: torch.nn.Module, optimiser: OptimiserConfig) -> torch.optim.AdamW:
    """Upstream's AdamW for `module`'s parameters."""
    return torch.optim.AdamW(
        module.parameters(),
        optimiser.learning_rate,
        betas=optimiser.betas,
        weight_decay=optimiser.weight_decay,
    )


class Trainer:
    """Builds everything from a config, trains, validates, checkpoints; `run()` does the work."""

    def __init__(self, config: TrainConfig, options: RunOptions, splits: TrainingSplits | None = None) -> None:
        self.config = config
        self.options = options
        self.run_dir = Path(options.run_dir)
        self.group = distributed.initialise(options.device)
        use_deterministic_kernels(config.deterministic)
        checkpoint = self._check_run_dir()
        distributed.barrier(self.group)  # every process has looked before rank 0 writes config.json
        self.model_config = model_config_for(config)
        if splits is None:
            self.splits = open_splits(config.data, config.protocol, config.partial_data)
        else:
            self.splits = check_splits(splits)
        self._build_networks(start_from_init=bool(config.init) and checkpoint is None)
        self.batches = CropBatches(
            self.splits.train,
            config.segment_size,
            config.batch_size,
            config.seed,
            self.group.rank,
            self.group.world_size,
        )
        count = len(self.splits.validation)
        if config.validation_utterances is not None:
            count = min(count, config.validation_utterances)
        self.validation_pairs = [self.splits.validation[index] for index in range(count)]
        self.pesq_targets = PesqTargets(config.pesq_workers)
        self.position = Position()
        # the only random draws of training are dropout masks: one stream per process
        seed_everything(config.seed + self.group.rank)
        if checkpoint is not None:
            self._restore(checkpoint)
        self.training_generator = distributed.wrap(self.generator, self.group, find_unused_parameters=True)
        self.training_discriminator = distributed.wrap(self.discriminator, self.group)
        self._open_logs(resumed=checkpoint is not None)

    def _build_networks(self, start_from_init: bool) -> None:
        """Both networks from the seed (the generator from --init if `start_from_init`), their AdamW and decay."""
        seed_everything(self.config.seed)
        self.generator = self.model_config.build()
        self.discriminator = MetricDiscriminator(dropout=self.config.discriminator_dropout)
        if start_from_init:
            _load_initial_weights(self.generator, self.config, self.model_config)
        if self.config.numerics == "upstream":
            use_upstream_order(self.generator)
        self.generator.to(self.group.device).train()
        self.discriminator.to(self.group.device).train()
        optimiser = self.config.optimiser
        self.generator_optimiser = _adamw(self.generator, optimiser)
        self.discriminator_optimiser = _adamw(self.discriminator, optimiser)
        decay = optimiser.learning_rate_decay
        self.generator_scheduler = torch.optim.lr_scheduler.ExponentialLR(self.generator_optimiser, decay)
        self.discriminator_scheduler = torch.optim.lr_scheduler.ExponentialLR(self.discriminator_optimiser, decay)

    def _open_logs(self, resumed: bool) -> None:
        """The CSV logs and TensorBoard (rank 0): a fresh run starts them, a resumed one cuts them at its step."""
        self.train_log = CsvLog(self.run_dir / TRAIN_LOG, TRAIN_COLUMNS)
        self.validation_log = CsvLog(self.run_dir / VALIDATION_LOG, VALIDATION_COLUMNS)
        self.timing_log = CsvLog(self.run_dir / TIMING_LOG, TIMING_COLUMNS)
        self.tensorboard: TensorBoard | None = None
        if not self.group.is_main:
            return
        logs = (self.train_log, self.validation_log, self.timing_log)
        if resumed:
            for log in logs:
                log.truncate_after(self.position.step)
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir)
            for log in logs:
                log.path.unlink(missing_ok=True)
        self.tensorboard = TensorBoard(self.run_dir / "tensorboard")

    # -- run directory, checkpoints ---------------------------------------------------------

    def _check_run_dir(self) -> dict | None:
        """The checkpoint to resume from, after checking the config; None for a fresh run."""
        path = self.run_dir / CHECKPOINT
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(f"{self.run_dir}: is a file; --out names the run directory")
        if not self.options.resume:
            if path.exists() or (self.run_dir / "config.json").exists():
                raise ConfigError(
                    f"{self.run_dir} already holds a training run; pass --resume to continue it, "
                    "or choose a new --out directory"
                )
            self._check_writable()
            return None
        saved = TrainConfig.load(self.run_dir)
        self._check_writable()
        differences = config_differences(saved, self.config)
        if differences:
            raise ConfigError(
                f"--resume: the requested config differs from the run's ({self.run_dir / 'config.json'}): "
                + "; ".join(differences)
                + ". Resume with the run's own settings, or start a new run directory."
            )
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: is not a file; move it away, or start a new --out directory")
        if not path.is_file():
            lost = _checkpoint_evidence(self.run_dir, self.config.checkpoint_interval)
            if lost:
                raise ConfigError(
                    f"--resume: {self.run_dir} has no {CHECKPOINT}, yet {lost}: its checkpoint is gone, and starting "
                    "again would overwrite its logs and best.pt. Restore the checkpoint, or start a new --out directory"
                )
            return None  # killed before its first checkpoint: start again from step 0, as it would have
        checkpoint = load_checkpoint(path)
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
            raise CheckpointError(f"{path}: not a bench.train checkpoint (format {found!r})")
        missing = sorted(CHECKPOINT_KEYS - set(checkpoint))
        if missing:
            raise CheckpointError(f"{path}: a bench.train checkpoint without {', '.join(missing)}; it is damaged")
        return checkpoint

    def _check_writable(self) -> None:
        """Refuse an --out this user cannot write to, before the data is read; nothing is created (a run refused
        later leaves no folder): the deepest existing folder on its path is probed."""
        existing = self.run_dir
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            if not existing.is_dir():
                raise NotADirectoryError(f"{existing} is not a folder")
            check_writable_folder(existing)
        except OSError as error:
            raise ConfigError(f"--out {self.run_dir}: cannot be written ({error}); choose a folder you can "
                              "write to") from error

    def _restore(self, checkpoint: dict) -> None:
        path = self.run_dir / CHECKPOINT
        if checkpoint["model"] != self.config.model:
            raise CheckpointError(
                f"{path}: holds a {checkpoint['model']!r} model, not {self.config.model!r}; "
                "resume with the run's own --model or start a new run directory"
            )
        if registry.config_from_dict(self.config.model, checkpoint["config"]) != self.model_config:
            raise CheckpointError(f"{path}: its architecture differs from {self.config.model!r} as configured now")
        if checkpoint["world_size"] != self.group.world_size:
            raise CheckpointError(
                f"{path}: was written by {checkpoint['world_size']} processes, now there are "
                f"{self.group.world_size}; resume with the same --nproc-per-node"
            )
        threads = checkpoint.get("torch_threads")  # absent before 2026-12-02
        if self.group.device.type == "cpu" and threads is not None and threads != torch.get_num_threads():
            raise CheckpointError(
                f"{path}: was trained on {threads} torch thread(s), now {torch.get_num_threads()}; resume with "
                f"--threads {threads}: on a CPU the thread count decides the bits, and a run of two counts is "
                "reproducible by neither"
            )
        self.generator.load_state_dict(checkpoint["generator"])
        self.discriminator.load_state_dict(checkpoint["discriminator"])
        self.generator_optimiser.load_state_dict(checkpoint["generator_optimiser"])
        self.discriminator_optimiser.load_state_dict(checkpoint["discriminator_optimiser"])
        self.generator_scheduler.load_state_dict(checkpoint["generator_scheduler"])
        self.discriminator_scheduler.load_state_dict(checkpoint["discriminator_scheduler"])
        self.position = Position(**checkpoint["position"])
        own = checkpoint["processes"][self.group.rank]
        self.pesq_targets.failure_counts.update(own["pesq_target_failures"])
        self.pesq_targets.batches, self.pesq_targets.dropped_batches = own["pesq_target_batches"]
        restore_random_states(own["random_states"])

    def _save_checkpoint(self) -> None:
        """Write checkpoint_last.pt atomically (rank 0), with every process's random states."""
        processes = distributed.gather(self._process_state(), self.group)
        if self.group.is_main:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "model": self.config.model,
                "config": self.model_config.to_dict(),
                "train_config": self.config.to_dict(),
                "generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "generator_optimiser": self.generator_optimiser.state_dict(),
                "discriminator_optimiser": self.discriminator_optimiser.state_dict(),
                "generator_scheduler": self.generator_scheduler.state_dict(),
                "discriminator_scheduler": self.discriminator_scheduler.state_dict(),
                "position": dataclasses.asdict(self.position),
                "processes": processes,
                "world_size": self.group.world_size,
                "torch_threads": torch.get_num_threads(),
            }
            save_checkpoint(self.run_dir / CHECKPOINT, payload)
        distributed.barrier(self.group)

    def _process_state(self) -> dict:
        """What each process keeps to itself: its random states and its PESQ-target counts."""
        return {
            "random_states": random_states(),
            "pesq_target_failures": dict(self.pesq_targets.failure_counts),
            "pesq_target_batches": [self.pesq_targets.batches, self.pesq_targets.dropped_batches],
        }

    def _save_best(self, result: ValidationResult) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": self.config.model,
            "config": self.model_config.to_dict(),
            "generator": self.generator.state_dict(),
            "step": self.position.step,
            "epoch": self.position.epoch,
            "protocol": self.config.protocol,
            "validation": dict(result.means),
            "validation_utterances": result.utterances,
        }
        save_checkpoint(self.run_dir / BEST, payload)

    # -- one step ---------------------------------------------------------------------------

    def train_step(self, clean: torch.Tensor, noisy: torch.Tensor) -> tuple[dict, dict]:
        """One discriminator and one generator update on a batch of normalised crops; (log row, timings)."""
        device = self.group.device
        stft = self.model_config.front_end.stft
        started = time.perf_counter()
        clean, noisy = clean.to(device), noisy.to(device)
        clean_magnitude, clean_phase = magnitude_phase_stft(clean, stft)
        target = Spectrum(clean_magnitude, clean_phase, complex_from_polar(clean_magnitude, clean_phase))
        enhanced = Spectrum(*self.training_generator(*magnitude_phase_stft(noisy, stft)))
        with torch.no_grad():
            enhanced_audio = magnitude_phase_istft(enhanced.magnitude, enhanced.phase, stft)
        pending = self.pesq_targets.submit(clean.cpu().numpy(), enhanced_audio.cpu().numpy())
        forward_done = time.perf_counter()
        discriminator_losses, targets, pesq_wait = self._discriminator_step(
            target.magnitude, enhanced.magnitude, pending
        )
        discriminator_done = time.perf_counter()
        losses, loss_done = self._generator_step(target, enhanced)
        finished = time.perf_counter()
        row = self._log_row(losses, discriminator_losses, targets)
        seconds = finished - started
        timings = {
            "seconds": seconds,
            "forward": forward_done - started,
            "pesq_wait": pesq_wait,
            "discriminator": discriminator_done - forward_done - pesq_wait,
            "generator_loss": loss_done - discriminator_done,
            "backward": finished - loss_done,
            "samples_per_second": clean.numel() * self.group.world_size / seconds,
        }
        return row, timings

    def _discriminator_step(
        self, clean_magnitude: torch.Tensor, magnitude: torch.Tensor, pending: PendingTargets
    ) -> tuple[dict[str, torch.Tensor], BatchTargets, float]:
        """Score (clean, clean) and (clean, enhanced), wait for the PESQ targets, update D; (losses, targets, wait)."""
        self.discriminator_optimiser.zero_grad()
        clean_score = self.training_discriminator(clean_magnitude, clean_magnitude)
        enhanced_score = self.training_discriminator(clean_magnitude, magnitude.detach())
        waiting = time.perf_counter()
        targets = pending.result()
        pesq_wait = time.perf_counter() - waiting
        target_tensor = None if targets.targets is None else torch.from_numpy(targets.targets)
        losses = discriminator_loss(clean_score, enhanced_score, target_tensor)
        losses["total"].backward()
        self.discriminator_optimiser.step()
        return losses, targets, pesq_wait

    def _generator_step(self, target: Spectrum, enhanced: Spectrum) -> tuple[GeneratorLoss, float]:
        """Update the generator against the updated discriminator; (losses, when the loss was computed)."""
        self.generator_optimiser.zero_grad()
        metric_score = self.discriminator(target.magnitude, enhanced.magnitude)
        losses = generator_loss(self.config.losses, metric_score, target, enhanced)
        loss_done = time.perf_counter()
        losses.total.backward()
        self.generator_optimiser.step()
        return losses, loss_done

    def _log_row(self, losses: GeneratorLoss, discriminator_losses: dict, targets: BatchTargets) -> dict:
        """The step's losses and PESQ-target counts, averaged over the processes."""
        finite_scores = [score for score in targets.scores if math.isfinite(score)]
        values = torch.tensor(
            [
                losses.total.item(),
                *(losses.terms[name].item() for name in GENERATOR_TERMS),
                discriminator_losses["total"].item(),
                discriminator_losses["real"].item(),
                discriminator_losses["enhanced"].item(),
                sum(finite_scores),
                len(finite_scores),
                len(targets.failures),
                float(targets.targets is None),
            ],
            dtype=torch.float64,
        )
        values = distributed.average(values, self.group)
        world = self.group.world_size
        row = dict(zip(LOGGED_LOSSES, values[: len(LOGGED_LOSSES)].tolist(), strict=True))
        pesq_sum, pesq_count, failures, dropped = values[len(LOGGED_LOSSES) :].tolist()
        row["batch_pesq"] = pesq_sum / pesq_count if pesq_count else float("nan")
        row["pesq_failures"] = round(failures * world)
        row["enhanced_term_dropped"] = round(dropped * world)
        return row

    # -- validation -------------------------------------------------------------------------

    def _validate(self) -> dict | None:
        """Rank 0 scores the validation utterances, keeps the best generator; others wait."""
        record = None
        if self.group.is_main:
            result = validate(self.generator, self.validation_pairs, self.config.validation_measures)
            position = self.position
            if math.isfinite(result.pesq) and not (result.pesq <= position.best_pesq):
                position.best_pesq = result.pesq
                position.best_step = position.step
                self._save_best(result)
            failures = sum(result.failures.values())
            if failures:
                tqdm.write(
                    f"validation at step {position.step}: {failures} failure(s) left out: {dict(result.failures)}"
                )
            record = {
                "step": position.step,
                "epoch": position.epoch,
                "protocol": self.config.protocol,
                "utterances": result.utterances,
                "failures": failures,
                **result.means,
                "best_pesq": position.best_pesq,
                "best_step": "" if position.best_step is None else position.best_step,
            }
            self.validation_log.write(record)
            if self.tensorboard is not None:
                self.tensorboard.scalars("validation", result.means, position.step)
        distributed.barrier(self.group)
        return record

    # -- the loop ---------------------------------------------------------------------------

    def total_steps(self) -> int:
        steps = self.config.epochs * self.batches.batches_per_epoch
        return steps if self.config.max_steps is None else min(steps, self.config.max_steps)

    def run(self) -> TrainResult:
        """Train to the last step (or `stop_after_steps`), validating and checkpointing; then leave the job."""
        try:
            done = Invocation(start_step=self.position.step)
            if self.position.step == 0 and self.validation_pairs:
                done.validations.append(self._validate())  # the untrained (or --init) model
            self._train(done)
            result = self._result(done)
        finally:
            distributed.shutdown(self.group)
        if self.group.is_main and (done.first_loss is not None or not (self.run_dir / SUMMARY).exists()):
            # a resume with nothing left to train keeps the summary (and the command) of the legs that trained
            self._write_summary(result)
            from bench.plots import learning_curve  # matplotlib: only once the steps are done

            learning_curve(self.run_dir)
        return result

    def _train(self, done: Invocation) -> None:
        """The steps, with validation and checkpoints at their intervals; the workers and logs closed after."""
        config, position = self.config, self.position
        total = self.total_steps()
        bar = tqdm(
            total=total,
            initial=position.step,
            unit="step",
            desc=f"training {config.model}",
            disable=not (self.options.progress and self.group.is_main),
            dynamic_ncols=True,
        )
        try:
            while position.step < total:
                row, timings = self._take_step(total)
                done.record(row["generator_total"])
                bar.update(1)
                if position.step % config.validation_interval == 0 or position.step == total:
                    done.validations.append(self._validate())
                bar.set_postfix(
                    G=f"{row['generator_total']:.3f}",
                    D=f"{row['discriminator_total']:.3f}",
                    s_per_step=f"{timings['seconds']:.2f}",
                    best_pesq=f"{position.best_pesq:.3f}",
                )
                stop_here = self.options.stop_after_steps is not None and position.step >= self.options.stop_after_steps
                if position.step % config.checkpoint_interval == 0 or position.step == total or stop_here:
                    self._save_checkpoint()
                if stop_here and position.step < total:
                    done.stopped_early = True
                    break
        finally:
            bar.close()
            self.pesq_targets.close()
            if self.tensorboard is not None:
                self.tensorboard.close()

    def _take_step(self, total: int) -> tuple[dict, dict]:
        """Train on the next batch, move the position on (decaying the learning rates after an epoch), log it."""
        position = self.position
        order = self.batches.order(position.epoch)
        clean, noisy = self.batches.batch(position.epoch, position.batch_in_epoch, order)
        row, timings = self.train_step(clean, noisy)
        learning_rate = self.generator_optimiser.param_groups[0]["lr"]
        epoch_of_step = position.epoch
        position.step += 1
        position.batch_in_epoch += 1
        if position.batch_in_epoch == self.batches.batches_per_epoch:
            self.generator_scheduler.step()
            self.discriminator_scheduler.step()
            position.epoch += 1
            position.batch_in_epoch = 0
        if self.group.is_main:
            self._log_step(row, timings, learning_rate, epoch_of_step, total)
        return row, timings

    def _log_step(self, row: dict, timings: dict, learning_rate: float, epoch: int, total: int) -> None:
        """Rank 0: the train log (every log_interval steps and the last), the timing log, a dropped-term note."""
        step = self.position.step
        if step % self.config.log_interval == 0 or step == total:
            self.train_log.write({"step": step, "epoch": epoch, "learning_rate": learning_rate, **row})
            self.tensorboard.scalars("train", row, step)
        self.timing_log.write({"step": step, **timings})
        if row["enhanced_term_dropped"]:
            tqdm.write(
                f"step {step}: PESQ target failed ({row['pesq_failures']} crop(s)); "
                f"the discriminator's enhanced term was dropped for this batch "
                f"({self.pesq_targets.dropped_batches} batch(es) so far)"
            )

    def _result(self, done: Invocation) -> TrainResult:
        """What this invocation did, with the PESQ-target counts of all processes (a collective)."""
        # each process drops its own share of the batch's term
        failures: Counter = Counter()
        batches = dropped = 0
        for state in distributed.gather(self._process_state(), self.group):
            failures.update(state["pesq_target_failures"])
            batches += state["pesq_target_batches"][0]
            dropped += state["pesq_target_batches"][1]
        self.pesq_target_batches = batches
        position = self.position
        return TrainResult(
            run_dir=self.run_dir,
            start_step=done.start_step,
            steps=position.step,
            epoch=position.epoch,
            stopped_early=done.stopped_early,
            best_pesq=position.best_pesq,
            best_step=position.best_step,
            protocol=self.config.protocol,
            validations=[record for record in done.validations if record is not None],
            pesq_target_failures=dict(failures),
            dropped_enhanced_terms=dropped,
            first_loss=done.first_loss,
            last_loss=done.last_loss,
        )

    def _write_summary(self, result: TrainResult) -> None:
        summary = {
            "model": self.config.model,
            "profile": self.config.profile,
            "data": self.splits.source,
            "protocol": result.protocol,
            "steps": result.steps,
            "epoch": result.epoch,
            "finished": result.steps >= self.total_steps(),
            "best_checkpoint": BEST if result.best_step is not None else None,
            "best_validation_pesq": None if math.isnan(result.best_pesq) else result.best_pesq,
            "best_step": result.best_step,
            "best_chosen_by": f"validation PESQ under the {result.protocol!r} protocol",
            "validation_utterances": len(self.validation_pairs),
            "pesq_target_batches": self.pesq_target_batches,
            "pesq_target_failures": result.pesq_target_failures,
            "dropped_enhanced_terms": result.dropped_enhanced_terms,
            "world_size": self.group.world_size,
            "tensorboard": bool(self.tensorboard and self.tensorboard.available),
            # the code and command of this process; a resumed run names those of its last leg
            "revision": running_revision(), "command": command_line(), "versions": package_versions(),
            "torch_threads": torch.get_num_threads(),
        }
        atomic_write_text(self.run_dir / SUMMARY, json.dumps(summary, indent=2) + "\n")


def _checkpoint_evidence(run_dir: Path, checkpoint_interval: int) -> str | None:
    """Why `run_dir` must once have held a checkpoint (a summary, or a step logged past the first checkpoint's),
    in words; None for a run killed before its first checkpoint."""
    if (run_dir / SUMMARY).exists():
        return f"its {SUMMARY} says it ran"
    try:
        with open(run_dir / TRAIN_LOG, encoding="utf-8", newline="") as stream:
            steps = [row.get("step", "") for row in csv.DictReader(stream)]
    except FileNotFoundError:
        return None
    logged = max((int(step) for step in steps if step.isdigit()), default=0)
    # step N is logged, then validated, then checkpointed: a kill in between leaves N logged and no checkpoint
    if logged > checkpoint_interval:
        return f"its {TRAIN_LOG} reaches step {logged}, past the first checkpoint at step {checkpoint_interval}"
    return None


def train(config: TrainConfig, options: RunOptions, splits: TrainingSplits | None = None) -> TrainResult:
    """Train (or resume) one run; returns what it did."""
    return Trainer(config, options, splits).run()
