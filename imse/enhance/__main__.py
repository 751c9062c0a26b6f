"""`python -m imse.enhance NOISY... --checkpoint NAME_OR_PATH --output-dir DIR`: enhance files
with any registered model (the command line over `imse.enhance.enhance_files`).

It lives apart from the library so that running it does not import it twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from imse.arguments import positive_integer
from imse.checkpoint import CheckpointError
from imse.enhance import BACKENDS, MODES, SUBTYPES, check_output_dir, collect_inputs, enhance_files
from imse.streaming import check_streamable


def _network(loaded, backend: str, mode: str, threads: int | None):
    """The network that `enhance_files` runs: the torch model, or its export in onnxruntime."""
    if backend == "torch":
        return loaded.model
    if mode == "stream":
        raise ValueError("--mode stream runs the torch model frame by frame; use --backend torch for it")
    if mode == "full" and loaded.model.config.front_end.segment_size is not None:
        raise ValueError(f"model {loaded.model_name} is exported at one segment; use --mode segmented with "
                         "--backend onnxruntime")
    from imse.export.runtime import onnxruntime_network

    return onnxruntime_network(loaded, threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imse.enhance", description=__doc__.split("\n\n")[0])
    parser.add_argument("noisy", nargs="+", help="noisy audio files (WAV, FLAC, OGG, ...) or directories of them")
    parser.add_argument("--checkpoint", required=True, help="a bundle name (e.g. imse-vb-3.399) or a file")
    parser.add_argument("--model", help="the registered architecture, for a file that is not a known bundle")
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--mode", choices=MODES, default="segmented")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="run the network in torch, or in onnxruntime (exported and cached on first use; "
                        'needs pip install -e ".[onnx]")')
    parser.add_argument("--subtype", choices=SUBTYPES, default="PCM_16")
    parser.add_argument("--downmix", action="store_true", help="average the channels of multi-channel input")
    parser.add_argument("--trust-unknown-checkpoint", action="store_true",
                        help="load a file whose hash matches no known bundle")
    parser.add_argument("--threads", type=positive_integer, help="torch CPU threads (default: torch's choice)")
    arguments = parser.parse_args(argv)

    from imse.export import MissingExtraError
    from imse.loading import load_model

    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    try:
        loaded = load_model(arguments.checkpoint, arguments.model, arguments.trust_unknown_checkpoint)
        if arguments.mode == "stream":
            check_streamable(loaded.model, loaded.model_name)
        selection = collect_inputs(arguments.noisy)
        check_output_dir(arguments.output_dir, selection.files)  # before an export that takes a minute
        network = _network(loaded, arguments.backend, arguments.mode, arguments.threads)
    except (CheckpointError, KeyError, FileNotFoundError, ValueError, MissingExtraError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"model {loaded.model_name} from {loaded.label} ({loaded.path}), mode {arguments.mode}, "
          f"backend {arguments.backend}", file=sys.stderr)
    for path in selection.skipped:
        print(f"note: {path} skipped: not an audio file", file=sys.stderr)
    try:
        report = enhance_files(selection.files, network, arguments.output_dir, arguments.mode, arguments.subtype,
                               arguments.downmix)
    except ValueError as error:  # an output directory refused before any work
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every file written so far is whole (atomic writes); none is half
        print(f"interrupted; the files already written in {arguments.output_dir} are complete", file=sys.stderr)
        return 130
    sample_rate = loaded.model.config.front_end.sample_rate
    for path, rate in report.resampled:
        print(f"note: {path} was {rate} Hz; resampled to {sample_rate} Hz", file=sys.stderr)
    for path, channels in report.downmixed:
        print(f"note: {path} had {channels} channels; averaged to mono", file=sys.stderr)
    for path, count in report.clipped:
        print(f"warning: {path}: {count} samples beyond full scale were clipped in PCM_16; "
              "--subtype FLOAT keeps them", file=sys.stderr)
    for _, message in report.failures:
        print(f"error: {message}", file=sys.stderr)
    print(
        f"{len(report.written)} enhanced ({report.seconds_of_audio:.1f} s of audio) into {arguments.output_dir}, "
        f"{len(report.resampled)} resampled, {len(report.downmixed)} downmixed, {len(report.clipped)} clipped, "
        f"{len(report.failures)} failed",
        file=sys.stderr,
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
