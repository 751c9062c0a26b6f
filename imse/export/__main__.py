"""`python -m imse.export --checkpoint NAME_OR_PATH --format onnx --output FILE`: export a
registered model's network (the command line over `imse.export.export_onnx`).

It lives apart from the library so that running it does not import it twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imse.checkpoint import CheckpointError
from imse.export import FORMATS, ExportError, MissingExtraError, check_output, export_onnx
from imse.loading import load_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imse.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a bundle name (e.g. imse-vb-3.399) or a file")
    parser.add_argument("--model", help="the registered architecture, for a file that is not a known bundle")
    parser.add_argument("--format", choices=FORMATS, default="onnx")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--trust-unknown-checkpoint", action="store_true",
                        help="load a file whose hash matches no known bundle")
    arguments = parser.parse_args(argv)
    try:
        check_output(arguments.output)
        loaded = load_model(arguments.checkpoint, arguments.model, arguments.trust_unknown_checkpoint)
        export_onnx(loaded.model, arguments.output)
    except (CheckpointError, ExportError, KeyError, MissingExtraError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the folder passed the check but a write in it failed (a full disk, /proc)
        print(f"error: --output {arguments.output}: {error.strerror or error}; nothing was written", file=sys.stderr)
        return 2
    size = arguments.output.stat().st_size / 1e6
    print(f"model {loaded.model_name} from {loaded.label} exported to {arguments.output} ({size:.1f} MB)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
