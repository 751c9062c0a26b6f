"""Enhance speech with any registered model: in Python, `imse.enhance(waveform, model)`;
on the command line, `python -m imse.enhance NOISY... --checkpoint NAME_OR_PATH --output-dir DIR`.

Two modes:
- `segmented` (default) is upstream's inference exactly: the RMS-normalised utterance is cut
  into 30,700-sample segments, the last one aligned to the end of the utterance, and the
  previous segment's output is cut so that the pieces join; a short utterance is
  zero-padded to one segment.
- `full` runs the whole utterance in one pass, zero-padded to a frame count the U-Net takes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from imse.audio import AudioError, read_audio, write_audio
from imse.checkpoint import CheckpointError
from imse.dsp import magnitude_phase_istft, magnitude_phase_stft, rms_normalisation_factor
from imse.frontend import STFTConfig
from imse.unet import SpeechEnhancementNet

MODES = ("segmented", "full")
SUBTYPES = ("PCM_16", "FLOAT")


class EnhancementError(ValueError):
    """An utterance the model cannot enhance (too short, or non-finite output)."""


def _run(model: SpeechEnhancementNet, waveform: torch.Tensor, stft: STFTConfig) -> torch.Tensor:
    magnitude, phase = magnitude_phase_stft(waveform, stft)
    enhanced_magnitude, enhanced_phase, _ = model(magnitude, phase)
    return magnitude_phase_istft(enhanced_magnitude, enhanced_phase, stft)


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


def padded_length(length: int, stft: STFTConfig) -> int:
    """The shortest length >= `length` whose centred STFT has a multiple of 4 frames."""
    frames = stft.frames(length)
    frames += (-frames) % 4
    return max(length, (frames - 1) * stft.hop_length)


@torch.inference_mode()
def enhance(
    waveform: np.ndarray | torch.Tensor, model: SpeechEnhancementNet, mode: str = "segmented"
) -> np.ndarray:
    """Enhance one mono 16 kHz utterance; returns float32 samples of the same length."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
    config = model.config
    noisy = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1)
    length = noisy.numel()
    if length < config.stft.n_fft:
        raise EnhancementError(f"too short: {length} samples; at least {config.stft.n_fft} (one STFT window) needed")
    if not torch.isfinite(noisy).all():
        raise EnhancementError("input contains NaN or infinite samples")
    try:
        factor = rms_normalisation_factor(noisy)
    except ValueError as error:
        raise EnhancementError("input is all zeros (silent); nothing to enhance") from error
    normalised = (noisy * factor)[None]
    if mode == "full":
        padded = torch.nn.functional.pad(normalised, (0, padded_length(length, config.stft) - length))
        output = _run(model, padded, config.stft)[0, :length]
    else:
        size = config.segment_size
        pieces = []
        for start, kept in _segments(length, size):
            segment = normalised[:, start : start + size]
            if segment.shape[1] < size:
                segment = torch.nn.functional.pad(segment, (0, size - segment.shape[1]))
            pieces.append(_run(model, segment, config.stft)[0, :kept])
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
    seconds_of_audio: float = 0.0


def find_inputs(noisy: list[str | Path]) -> list[Path]:
    """Expand files and directories (their *.wav, *.flac, sorted) into a list of files."""
    files = []
    for item in map(Path, noisy):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in {".wav", ".flac"})
            if not found:
                raise FileNotFoundError(f"{item}: directory holds no .wav or .flac files")
            files.extend(found)
        else:
            files.append(item)
    stems = [path.stem for path in files]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise ValueError(f"several inputs share the output name(s) {duplicates}; each writes DIR/<stem>.wav")
    return files


def enhance_files(
    files: list[Path],
    model: SpeechEnhancementNet,
    output_dir: str | Path,
    mode: str = "segmented",
    subtype: str = "PCM_16",
    downmix: bool = False,
    progress: bool = True,
) -> EnhancementReport:
    """Enhance each file into output_dir/<stem>.wav; a bad file is reported and skipped."""
    if subtype not in SUBTYPES:
        raise ValueError(f"unknown subtype {subtype!r}; use one of {SUBTYPES}")
    report = EnhancementReport()
    sample_rate = model.config.stft.sample_rate
    for path in tqdm(files, desc="enhancing", unit="file", disable=not progress):
        try:
            audio = read_audio(path, sample_rate, resample_to_rate=True, downmix=downmix)
            enhanced = enhance(audio.samples, model, mode)
        except (AudioError, EnhancementError) as error:
            message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
            report.failures.append((path, message))
            continue
        if audio.resampled:
            report.resampled.append((path, audio.original_sample_rate))
        if audio.downmixed_channels:
            report.downmixed.append((path, audio.downmixed_channels))
        target = Path(output_dir) / f"{path.stem}.wav"
        write_audio(target, enhanced, sample_rate, subtype)
        report.written.append(target)
        report.seconds_of_audio += audio.duration
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imse.enhance", description=__doc__.split("\n\n")[0])
    parser.add_argument("noisy", nargs="+", help="noisy WAV/FLAC files or directories of them")
    parser.add_argument("--checkpoint", required=True, help="a bundle name (e.g. imse-vb-3.399) or a file")
    parser.add_argument("--model", help="the registered architecture, for a file that is not a known bundle")
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--mode", choices=MODES, default="segmented")
    parser.add_argument("--subtype", choices=SUBTYPES, default="PCM_16")
    parser.add_argument("--downmix", action="store_true", help="average the channels of multi-channel input")
    parser.add_argument("--trust-unknown-checkpoint", action="store_true",
                        help="load a file whose hash matches no known bundle")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    arguments = parser.parse_args(argv)

    from imse.loading import load_model

    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    try:
        loaded = load_model(arguments.checkpoint, arguments.model, arguments.trust_unknown_checkpoint)
        files = find_inputs(arguments.noisy)
    except (CheckpointError, KeyError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"model {loaded.model_name} from {loaded.label} ({loaded.path}), mode {arguments.mode}", file=sys.stderr)
    report = enhance_files(files, loaded.model, arguments.output_dir, arguments.mode, arguments.subtype,
                           arguments.downmix)
    for path, rate in report.resampled:
        print(f"note: {path} was {rate} Hz; resampled to 16000 Hz", file=sys.stderr)
    for path, channels in report.downmixed:
        print(f"note: {path} had {channels} channels; averaged to mono", file=sys.stderr)
    for _, message in report.failures:
        print(f"error: {message}", file=sys.stderr)
    print(
        f"{len(report.written)} enhanced ({report.seconds_of_audio:.1f} s of audio) into {arguments.output_dir}, "
        f"{len(report.resampled)} resampled, {len(report.downmixed)} downmixed, {len(report.failures)} failed",
        file=sys.stderr,
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
