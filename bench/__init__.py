"""The harness: data, training, metrics, complexity, tables, reproduction and regression checks."""

from bench.cpu_kernels import pin_instruction_set

pin_instruction_set()
