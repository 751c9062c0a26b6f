"""Training: the official IMSE/MUSE recipe (MetricGAN discriminator, MP-SENet losses) for any registered model.

`python -m bench.train --model NAME --data SOURCE --profile paper|smoke --out RUN_DIR`
trains; `--resume` continues a killed run bit for bit on CPU; `torchrun --nproc-per-node N
-m bench.train ...` trains with DistributedDataParallel. The modules: `config` (the
dataclasses and presets), `data` and `batches` (utterances, crops and their order),
`discriminator`, `losses`, `pesq_targets`, `validation`, `determinism`, `distributed`,
`logs`, and `loop` (the trainer). This package file imports nothing heavy, so that the
PESQ worker processes start quickly.
"""
