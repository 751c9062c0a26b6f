"""Enhance speech with any registered model: in Python, `imse.enhance(waveform, model)`;
on the command line, `python -m imse.enhance` (`imse/enhance/__main__.py`).

The model's declared front end (`model.config.front_end`) says how: its STFT and
representation, whether the input is RMS-normalised, its segment size. Three modes:
- `segmented` (default) is upstream's inference exactly: the (normalised) utterance is cut
  into the model's segments (30,700 samples for the U-Nets), the last one aligned to the end
  of the utterance, and the previous segment's output is cut so that the pieces join; a
  short utterance is zero-padded to one segment. A model that declares no segment size
  takes the whole utterance in this mode too.
- `full` runs the whole utterance in one pass, padded (as the front end declares) to its
  next valid length.
- `stream` feeds a causal model one hop at a time through its cache (`imse.streaming`) and
  returns what the whole-utterance pass returns, the one-hop delay removed; a model that is
  not causal (IMSE, MUSE) is refused.
The output always has the input's length.

`model` is a torch network or, for the onnxruntime backend, `imse.export.runtime.OnnxRuntimeNetwork`
(its exported graph, called the same way): the backend replaces the network call and nothing else.
"""

from __future__ import annotations

import resource
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch
from torch import nn
from tqdm import tqdm

from imse.audio import AudioError, read_audio, write_audio
from imse.dsp import analyse, rms_normalisation_factor, synthesise
from imse.frontend import FrontEnd
from imse.streaming import check_streamable, enhance_stream

MODES = ("segmented", "full", "stream")
BACKENDS = ("torch", "onnxruntime")
SUBTYPES = ("PCM_16", "FLOAT")


class EnhancementError(ValueError):
    """An utterance the model cannot enhance (too short, or non-finite output)."""


def _run(model: nn.Module, waveform: torch.Tensor, front_end: FrontEnd) -> torch.Tensor:
    """[1, samples] in the model's valid length -> [1, samples] through the declared front end."""
    return synthesise(model(*analyse(waveform, front_end)), front_end)


def _segments(length: int, segment_size: int) -> list[tuple[int, int]]:
    """(start, kept) per segment: input [start, start + segment), output samples [0, kept) kept."""
    if length <= segment_size:
        return [(0, length)]
    full, remainder = divmod(length, segment_size)
    plan = [(i * segment_size, segment_size) for i in range(full)]
    if remainder:
        plan[-1] = (plan[-1][0], remainder)  # upstream cuts the segment before the end-aligned one
        plan.append((length - segment_size, segment_size))
    return plan


def _checked_input(waveform: np.ndarray | torch.Tensor, front_end: FrontEnd) -> torch.Tensor:
    noisy = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1)
    if noisy.numel() < front_end.minimum_length:
        raise EnhancementError(
            f"too short: {noisy.numel()} samples; at least {front_end.minimum_length} (one STFT window) needed"
        )
    if not torch.isfinite(noisy).all():
        raise EnhancementError("input contains NaN or infinite samples")
    return noisy


def _pass(model: nn.Module, waveform: torch.Tensor, front_end: FrontEnd, size: int) -> torch.Tensor:
    """One pass over [1, n] padded to `size` samples as the front end declares (zeros, or the
    mirror image when that is shorter than the input); the first n samples of the output."""
    length = waveform.shape[1]
    if front_end.end_padding == "reflect" and size - length < length:
        padded = torch.nn.functional.pad(waveform[None], (0, size - length), mode="reflect")[0]
    else:
        padded = torch.nn.functional.pad(waveform, (0, size - length))
    return _run(model, padded, front_end)[0, :length]


def available_memory() -> int | None:
    """Bytes a new allocation can take: the least of Linux's MemAvailable, the cgroup's memory.max
    less what it uses, and the address-space limit (ulimit -v) less what is mapped; None if unknown."""
    limits = [_meminfo_available(), _cgroup_headroom(), _address_space_headroom()]
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as stream:
            fields = dict(line.split(":", 1) for line in stream)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _cgroup_headroom() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else int(limit) - used


def _address_space_headroom() -> int | None:
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return None
    return limit - mapped


def _check_memory(front_end: FrontEnd, samples: int) -> None:
    """Refuse a whole-utterance pass that would not fit, rather than die half-way through a batch."""
    available = available_memory()
    if front_end.full_pass_bytes_per_sample is None or available is None:
        return
    needed = samples * front_end.full_pass_bytes_per_sample
    if needed > available:
        raise EnhancementError(
            f"a whole-utterance pass over {samples / front_end.sample_rate:.0f} s needs about "
            f"{needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB are available; "
            "use --mode segmented (mode='segmented')"
        )


@torch.inference_mode()
def enhance(waveform: np.ndarray | torch.Tensor, model: nn.Module, mode: str = "segmented") -> np.ndarray:
    """Enhance one mono utterance at the model's sample rate; returns float32 samples of the same length."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
    front_end = check_streamable(model) if mode == "stream" else model.config.front_end
    noisy = _checked_input(waveform, front_end)
    length = noisy.numel()
    if not noisy.any():
        raise EnhancementError("input is all zeros (silent); nothing to enhance")
    factor = torch.ones(1)
    if front_end.rms_normalisation:
        try:
            factor = rms_normalisation_factor(noisy)
        except ValueError as error:  # energy 0 in float32: samples too small to square
            raise EnhancementError("input is silent (its energy is 0 in float32); nothing to enhance") from error
    normalised = (noisy * factor)[None]
    size = front_end.segment_size
    if mode == "stream":
        output = torch.from_numpy(enhance_stream(normalised[0], model))
    elif mode == "full" or size is None:
        _check_memory(front_end, front_end.valid_length(length))
        output = _pass(model, normalised, front_end, front_end.valid_length(length))
    else:
        pieces = [_pass(model, normalised[:, start : start + size], front_end, size)[:kept]
                  for start, kept in _segments(length, size)]
        output = torch.cat(pieces)
    output = output / factor
    if not torch.isfinite(output).all():
        raise EnhancementError("the model produced NaN or infinite samples")
    return output.numpy().astype(np.float32)


@dataclass
class EnhancementReport:
    """What a batch run did: written files, resampled or downmixed inputs, per-file failures."""

    written: list[Path] = field(default_factory=list)
    resampled: list[tuple[Path, int]] = field(default_factory=list)
    downmixed: list[tuple[Path, int]] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    clipped: list[tuple[Path, int]] = field(default_factory=list)
    """Files written as PCM_16 with samples beyond full scale, and how many (clipped on writing)."""
    seconds_of_audio: float = 0.0


def check_output_dir(output_dir: str | Path, files: list[Path]) -> Path:
    """Refuse, before any work, an output directory that cannot be written or whose outputs would
    overwrite an input (`DIR --output-dir DIR` would replace the noisy files in place)."""
    output_dir = Path(output_dir)
    inputs = {path.resolve(): path for path in files}
    for path in files:
        target = (output_dir / f"{path.stem}.wav").resolve()
        if target in inputs:
            raise ValueError(
                f"{output_dir}: writing {path.stem}.wav there would overwrite the input {inputs[target]}; "
                "choose another --output-dir"
            )
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir}: is not a directory; --output-dir needs a directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise ValueError(f"{output_dir}: cannot be written ({error.strerror}); choose another --output-dir") from error
    return output_dir


AUDIO_SUFFIXES = frozenset(f".{extension.lower()}" for extension in soundfile.available_formats())
"""What a directory's files may end in to be taken as input: every format libsndfile reads."""


@dataclass
class InputSelection:
    """The files to enhance, and the entries of input directories that were passed over."""

    files: list[Path]
    skipped: list[Path]


def collect_inputs(noisy: list[str | Path]) -> InputSelection:
    """Expand files and directories (their audio files, sorted) into files to enhance; a
    directory's other entries (sub-directories, other suffixes) are listed as skipped."""
    selection = InputSelection([], [])
    for item in map(Path, noisy):
        if not item.is_dir():
            selection.files.append(item)
            continue
        entries = sorted(path for path in item.iterdir() if not path.name.startswith("."))
        found = [path for path in entries if path.suffix.lower() in AUDIO_SUFFIXES and not path.is_dir()]
        if not found:
            raise FileNotFoundError(f"{item}: directory holds no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
        selection.files.extend(found)
        selection.skipped.extend(path for path in entries if path not in found)
    stems = [path.stem for path in selection.files]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise ValueError(f"several inputs share the output name(s) {duplicates}; each writes DIR/<stem>.wav")
    return selection


def find_inputs(noisy: list[str | Path]) -> list[Path]:
    """The files that `collect_inputs` would enhance."""
    return collect_inputs(noisy).files


def _enhance_file(path: Path, model: nn.Module, target: Path, mode: str, subtype: str, downmix: bool,
                  report: EnhancementReport) -> None:
    """Read, enhance and write one file, noting in `report` what was done to it."""
    sample_rate = model.config.front_end.sample_rate
    audio = read_audio(path, sample_rate, resample_to_rate=True, downmix=downmix)
    try:
        enhanced = enhance(audio.samples, model, mode)
    except RuntimeError as error:  # an allocation the memory estimate did not foresee (a ulimit, a cgroup)
        if "allocate" not in str(error):
            raise
        raise EnhancementError(f"out of memory ({error}); use --mode segmented (mode='segmented')") from error
    if target.is_dir():
        raise EnhancementError(f"the output {target} is a directory; move it or choose another --output-dir")
    write_audio(target, enhanced, sample_rate, subtype)
    if audio.resampled:
        report.resampled.append((path, audio.original_sample_rate))
    if audio.downmixed_channels:
        report.downmixed.append((path, audio.downmixed_channels))
    clipped = int(np.count_nonzero(np.abs(enhanced) > 1.0)) if subtype == "PCM_16" else 0
    if clipped:
        report.clipped.append((target, clipped))
    report.written.append(target)
    report.seconds_of_audio += audio.duration


def enhance_files(
    files: list[Path],
    model: nn.Module,
    output_dir: str | Path,
    mode: str = "segmented",
    subtype: str = "PCM_16",
    downmix: bool = False,
    progress: bool = True,
) -> EnhancementReport:
    """Enhance each file into output_dir/<stem>.wav; a bad file is reported and skipped."""
    if subtype not in SUBTYPES:
        raise ValueError(f"unknown subtype {subtype!r}; use one of {SUBTYPES}")
    output_dir = check_output_dir(output_dir, files)
    report = EnhancementReport()
    for path in tqdm(files, desc="enhancing", unit="file", disable=not progress):
        try:
            _enhance_file(path, model, output_dir / f"{path.stem}.wav", mode, subtype, downmix, report)
        except (AudioError, EnhancementError, OSError) as error:
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            report.failures.append((path, message))
    return report
