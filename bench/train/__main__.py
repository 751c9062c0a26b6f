"""`python -m bench.train`: train or resume one model on one data source.

Examples:
    python -m bench.train --model imse --data vb-mini --profile smoke --out runs/imse-smoke
    python -m bench.train --model imse --data vb-mini --profile smoke --out runs/imse-smoke --resume
    python -m bench.train --model muse --data vb16k --profile paper --out runs/muse-paper
    python -m bench.train --model imse --data vb-mini --profile smoke --init imse-vb-3.399 --out runs/finetune
    torchrun --nproc-per-node 2 -m bench.train --model imse --data vb-mini --profile smoke --out runs/ddp
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from bench.data.protocol import PROTOCOLS
from bench.errors import report_error
from bench.train.config import (
    NUMERICS,
    PAPER_EPOCHS,
    PROFILES,
    ConfigError,
    TrainConfig,
    load_config_file,
    profile_config,
)
from imse.arguments import non_negative_integer, positive_integer


def paper_epoch_range() -> str:
    """The paper recipes' epoch counts as a range ("100-200"), for messages and footnotes."""
    return f"{min(PAPER_EPOCHS.values())}-{max(PAPER_EPOCHS.values())}"


def parser() -> argparse.ArgumentParser:
    """The options of `python -m bench.train`."""
    arguments = argparse.ArgumentParser(
        prog="python -m bench.train",
        description="Train a registered speech-enhancement model with the IMSE/MUSE recipe.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    arguments.add_argument("--model", help="a registered model name (imse, muse, ...)")
    arguments.add_argument("--data", help="a data source (vb-mini, a VoiceBank+DEMAND copy, a directory); default "
                           "$IMSE_BENCH_DATA, else vb-mini, recorded by name in config.json")
    arguments.add_argument("--profile", choices=PROFILES, help="the preset (default paper); not with --config, "
                           "whose file holds its profile")
    arguments.add_argument("--config", type=Path, help="a config.json to start from instead of the --profile preset")
    arguments.add_argument("--out", required=True, type=Path, help="the run directory")
    arguments.add_argument("--seed", type=int)
    arguments.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    arguments.add_argument("--init", help="start from a pretrained bundle (e.g. imse-vb-3.399) or checkpoint file")
    arguments.add_argument(
        "--partial-data", action="store_true", default=None, help="the source is a deliberate subset of the corpus"
    )
    arguments.add_argument("--protocol", choices=PROTOCOLS, help="validation protocol (default: clean)")
    arguments.add_argument("--epochs", type=positive_integer)
    arguments.add_argument("--max-steps", type=positive_integer, help="stop after this many steps in total")
    arguments.add_argument("--batch-size", type=positive_integer, help="the global batch")
    arguments.add_argument("--segment-size", type=positive_integer, help="samples per training crop")
    arguments.add_argument("--validation-interval", type=positive_integer)
    arguments.add_argument("--validation-utterances", type=positive_integer)
    arguments.add_argument("--validation-measures", choices=("pesq", "all"))
    arguments.add_argument("--checkpoint-interval", type=positive_integer)
    arguments.add_argument("--pesq-workers", type=non_negative_integer,
                           help="processes for the PESQ targets (0: in-process)")
    arguments.add_argument("--discriminator-dropout", type=float)
    arguments.add_argument("--deterministic", action="store_true", default=None, help="deterministic GPU kernels")
    arguments.add_argument("--numerics", choices=NUMERICS,
                           help="fast (default) or upstream: the norms, feed-forward, dense blocks and IMSE's "
                                "attention in the authors' order of operations and layout (IMSE then trains on their "
                                "bits on the same machine; about 45%% slower)")
    arguments.add_argument("--model-overrides", type=json.loads, help="JSON of ModelConfig fields to replace")
    arguments.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                           help="auto (cuda when there is one), cpu or cuda")
    arguments.add_argument("--threads", type=positive_integer, help="torch intra-op threads")
    arguments.add_argument("--stop-after-steps", type=positive_integer, help="stop (checkpointed) here, as if killed")
    arguments.add_argument("--no-progress", action="store_true")
    return arguments


def build_config(arguments: argparse.Namespace) -> TrainConfig:
    """The --config file or the --profile preset, with the options given (on --resume it must equal the run's)."""
    overrides = {
        "seed": arguments.seed,
        "init": arguments.init,
        "protocol": arguments.protocol,
        "partial_data": arguments.partial_data,
        "epochs": arguments.epochs,
        "max_steps": arguments.max_steps,
        "batch_size": arguments.batch_size,
        "segment_size": arguments.segment_size,
        "validation_interval": arguments.validation_interval,
        "validation_utterances": arguments.validation_utterances,
        "validation_measures": arguments.validation_measures,
        "checkpoint_interval": arguments.checkpoint_interval,
        "pesq_workers": arguments.pesq_workers,
        "discriminator_dropout": arguments.discriminator_dropout,
        "deterministic": arguments.deterministic,
        "numerics": arguments.numerics,
        "model_overrides": arguments.model_overrides,
    }
    if arguments.config is not None:
        if arguments.profile is not None:
            raise ConfigError(f"--profile {arguments.profile}: --config {arguments.config} holds its own profile; "
                              "give one of the two")
        base = load_config_file(arguments.config)
        given = {key: value for key, value in overrides.items() if value is not None}
        for key in ("model", "data"):
            if getattr(arguments, key) is not None:
                given[key] = getattr(arguments, key)
        config = dataclasses.replace(base, **given)
    elif arguments.model is None:
        raise ConfigError("--model is required (or --config)")
    else:
        config = profile_config(arguments.profile or "paper", arguments.model, arguments.data, **overrides)
    if config.data is None:  # the source it will read, by name, so that config.json says what it trained on
        from bench.data.resolve import DATA_VARIABLE, VB_MINI

        config = dataclasses.replace(config, data=os.environ.get(DATA_VARIABLE) or VB_MINI)
    return config


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.train`: build the config, run `bench.train.loop.train`, print its report; 2 on an error."""
    arguments = parser().parse_args(argv)
    import torch

    from bench.train.data import DataError
    from bench.train.loop import RunOptions, train
    from imse.checkpoint import CheckpointError

    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    try:
        config = build_config(arguments)
        options = RunOptions(
            run_dir=arguments.out,
            resume=arguments.resume,
            stop_after_steps=arguments.stop_after_steps,
            progress=not arguments.no_progress,
            device=arguments.device,
        )
        result = train(config, options)
    except (ConfigError, DataError, CheckpointError, KeyError) as error:
        return report_error(error)
    if os.environ.get("RANK", "0") == "0":
        print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
