"""Parameters, MACs, latency and memory, measured the same way for every registered model.

    python -m bench.complexity --model imse muse [--format csv|markdown] [--output FILE] [--scaling-output FILE]

MACs are multiply-accumulates (FLOPs = 2 MACs) of the network on its (magnitude, phase)
input; the STFT and iSTFT around it are not counted. Two counters are run and compared:
fvcore (traced) and ptflops with its aten backend passed explicitly (its default pytorch
backend skips matmul and einsum). Every operator a counter treated as zero is listed.
`--scaling-output` adds MACs by block type (embedding, attention, feed-forward, norm,
U-Net resampling, encoder/decoder) and full-utterance latency for 1, 2, 4, 8 and 16 s.

Each model is also exported to ONNX as `python -m imse.export` does (with the `onnx` extra): the
file's size, and onnxruntime's real-time factor on one thread through the same `imse.enhance`
(segmented; full too where the graph takes any length). `onnx_note` says what is missing and why.

Parameters are given twice: the total, and the paper's convention, which leaves out the
1x1 pointwise projections of IDConv embeddings (the paper's 0.427M for IMSE is 432,995 less
those 5,376 weights; inferred, not stated by the authors).

Recurrent layers: fvcore traces `aten::gru` as one operator and skips it; `gru_macs` is its
handle here. Convention (both counters): the matrix products only, 3 x (input x hidden + hidden
x hidden) MACs per time step, direction and layer; gate nonlinearities, Hadamard products and
bias additions are elementwise and not counted, like every other elementwise operator. ptflops's
aten counter sees the GRU decomposed into mm/addmm and adds one per output element of an addmm
(the biases: 6 x hidden per step and direction); nothing else of it differs.

GTCRN (no segments: `macs_segment_*` are left empty; 1 s = 16,300 samples is 64 of its frames,
16,000 samples are 63): on 63 frames fvcore gives 28.62 M, ptflops 28.24 M, the authors 33.0 M
(README; the paper's 39.6 M predates the ERB low band becoming a concatenation). fvcore minus
ptflops: + batch and layer norm (fvcore counts them, 2.02 M), - biases of addmm (0.97 M),
- transposed convolutions (fvcore counts input x kernel, ptflops output x kernel: 0.68 M).
The authors counted with ptflops's pytorch backend (`gtcrn.py`, input (257, 63, 2)), which adds
norms, PReLU, GRU gates and biases: 31.97 M on the official code with ptflops 0.7.5; the last
1.03 M (3%) to 33.0 M is not reproduced (a ptflops version, or 65 frames, would give it).
"""

from __future__ import annotations

import argparse
import copy
import io
import multiprocessing
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Empty

import numpy as np
import torch
from tqdm import tqdm

from bench.cpu_kernels import instruction_set
from bench.errors import BenchError, report_error
from bench.provenance import PACKAGES, package_versions, running_revision
from imse.arguments import positive_integer
from imse.atomic import atomic_write_text
from imse.dsp import analyse
from imse.enhance import enhance
from imse.frontend import SAMPLE_RATE, SEGMENT_SIZE
from imse.idconv import InceptionDepthwiseEmbedding
from imse.registry import registry
from imse.unet import SpeechEnhancementNet

ONE_SECOND = 16_300
"""1 s of 16 kHz audio gives 161 frames, which the U-Net rejects; 16,300 samples give 164."""
SCALING_SECONDS = (1, 2, 4, 8, 16)
LATENCY_SECONDS = 4.0
"""Audio length of the latency and memory measurements (--latency-seconds)."""
REPEATS = 5
"""Timed runs per latency figure (--repeats)."""
LATENCY_MODES = ("segmented", "full")
"""The enhancement modes timed; streaming is timed per hop by benchmarks/, not here."""
MEMORY_PROBES = 5
GPU_REPEATS = 20
"""CUDA-event timings behind the GPU forward time."""
ONNXRUNTIME_THREADS = 1
"""onnxruntime is timed on one thread: the device IMSE is meant for, and the speed goal's setting."""
EXPORT_SEED = 0
"""Seed of the weights the onnxruntime columns export. Speed does not depend on the weights, but the export's
parity check on noise does: one unseeded IMSE initialisation in a main job was 6.8e-4 off, over the tolerance,
and was refused. Seeded, the table is the same from run to run (seed 0 passes for every registered model)."""
ONNX_PACKAGES = ("onnx", "onnxruntime")
"""Recorded beside the harness's packages: the onnxruntime columns depend on them."""
FORMATS = ("csv", "markdown")
ALL_THREADS = os.cpu_count() or 1
DATA_MOVEMENT = {
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "unsqueeze", "squeeze", "select", "slice",
    "split", "split_with_sizes", "chunk", "expand", "detach", "empty", "clone", "cat", "stack", "repeat", "arange",
    "unflatten", "flatten", "pixel_shuffle", "pixel_unshuffle", "contiguous", "copy_", "alias", "lift_fresh",
}
"""Operators that move data without arithmetic; they are left out of the skipped lists."""

BLOCK_TYPES = ("embedding", "attention", "feedforward", "norm", "unet-resampling", "encoder-decoder")


def parameter_counts(model: SpeechEnhancementNet) -> tuple[int, int]:
    """(total, paper convention): the convention leaves out IDConv's pointwise projections."""
    total = sum(parameter.numel() for parameter in model.parameters())
    pointwise = sum(
        module.pointwise.weight.numel()
        for module in model.modules()
        if isinstance(module, InceptionDepthwiseEmbedding)
    )
    return total, total - pointwise


def network_inputs(model: SpeechEnhancementNet, samples: int) -> tuple[torch.Tensor, ...]:
    """Random network inputs of the shapes the model's front end gives for `samples` samples."""
    shapes = [features.shape for features in analyse(torch.zeros(1, samples), model.config.front_end)]
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.rand(shape, generator=generator) for shape in shapes)


_BLOCK_SUFFIXES = {".embedding": "embedding", ".attention": "attention", ".feedforward": "feedforward",
                   "_norm": "norm"}


def split_by_block(by_module: dict[str, int], total: int) -> dict[str, int]:
    """Split a per-module count (children included in parents) into disjoint block types.

    Each embedding, attention, feed-forward and norm module is counted whole; the dense
    encoder and the two decoders are "encoder-decoder"; what remains of the U-Net (down-
    and upsampling, channel reduction, output convs, residual additions) is "unet-resampling".
    """
    split = dict.fromkeys(BLOCK_TYPES, 0)
    for name, count in by_module.items():
        for suffix, kind in _BLOCK_SUFFIXES.items():
            if name.startswith("unet.") and name.endswith(suffix):
                split[kind] += count
    split["encoder-decoder"] = sum(by_module.get(name, 0) for name in ("encoder", "mask_decoder", "phase_decoder"))
    split["unet-resampling"] = total - sum(split.values())
    return split


def _blocks(model: torch.nn.Module, by_module: dict[str, int], total: int) -> dict[str, int]:
    """The split by block type for IMSE-family networks; {} for others (GTCRN has none of these blocks)."""
    return split_by_block(by_module, total) if isinstance(model, SpeechEnhancementNet) else {}


@dataclass
class MacCount:
    """One counter's total, its split by block type ({} outside the IMSE family), and the operators it did not count."""

    total: int
    by_block: dict[str, int]
    skipped: list[str]


def gru_macs(inputs: list, outputs: list) -> int:
    """fvcore handle for `aten::gru`: 3 x (input x hidden + hidden x hidden) per step, direction and layer.

    The traced arguments are (input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first); hx is [layers x directions, batch, hidden].
    """
    from fvcore.nn.jit_handles import get_shape

    input_shape, state_shape = get_shape(inputs[0]), get_shape(inputs[1])
    layers, bidirectional, batch_first = (inputs[index].toIValue() for index in (4, 7, 8))
    directions = 2 if bidirectional else 1
    hidden = state_shape[-1]
    steps = input_shape[1] if batch_first else input_shape[0]
    batch = input_shape[0] if batch_first else input_shape[1]
    per_step, features = 0, input_shape[-1]
    for _ in range(layers):
        per_step += directions * 3 * (features * hidden + hidden * hidden)
        features = hidden * directions
    return batch * steps * per_step


def fvcore_macs(model: SpeechEnhancementNet, samples: int) -> MacCount:
    """fvcore's count (its "flops" are MACs for conv and matmul), GRUs counted by `gru_macs`."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, network_inputs(model, samples)).set_op_handle("aten::gru", gru_macs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    total = int(analysis.total())
    return MacCount(total, _blocks(model, analysis.by_module(), total), _arithmetic(analysis.unsupported_ops()))


def _arithmetic(operators) -> list[str]:
    """Operator names without their namespace, data movement dropped, sorted."""
    names = {re.sub(r"^aten(::|\.)", "", str(name)) for name in operators}
    return sorted(names - DATA_MOVEMENT)


def ptflops_macs(model: SpeechEnhancementNet, samples: int) -> MacCount:
    """ptflops's aten counter, attributed to every module of the model, on the meta device.

    This is the counter `ptflops.get_model_complexity_info(..., backend="aten")` runs; it is
    entered directly because that function only attributes counts to the top module's
    children, and the split by block type needs every module. The meta device carries
    shapes only, no arithmetic, so a 16 s input costs as little as a 1 s one.
    """
    from ptflops.aten_engine import FlopCounterMode

    stream = io.StringIO()
    counter = FlopCounterMode(verbose=True, output_params={"print_params": {"file": stream}})
    meta_model = copy.deepcopy(model).to("meta").eval()
    inputs = tuple(tensor.to("meta") for tensor in network_inputs(model, samples))

    def leave(*_) -> None:  # a forward hook that returned the popped name would replace the output
        counter.parents.pop()

    handles = []
    for name, module in meta_model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(lambda *_, name=name: counter.parents.append(name)))
            handles.append(module.register_forward_hook(leave))
    try:
        with counter, torch.no_grad():
            meta_model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    by_module = {name: sum(counts.values()) for name, counts in counter.flop_counts.items()}
    total = by_module.pop("Global")
    skipped = re.findall(r"Warning: (\S+) operation is treated as a zero-op", stream.getvalue())
    return MacCount(int(total), _blocks(model, by_module, total), _arithmetic(skipped))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def latency(
    model: SpeechEnhancementNet, seconds: float, mode: str, threads: int, repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median and p90 wall time of `imse.enhance` on `seconds` of audio, and the real-time factor.

    `model` is what `imse.enhance` runs: a torch network, or an exported one (`OnnxRuntimeNetwork`,
    whose own session holds its thread count; `threads` then sets torch's, for the front end)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        audio = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
        times = []
        for index in range(warmup + repeats):
            start = time.perf_counter()
            enhance(audio, model, mode)
            if index >= warmup:
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    median = statistics.median(times)
    return {"median_s": median, "p90_s": _percentile(times, 90), "rtf": median / seconds}


def _resident_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class ComplexityError(BenchError):
    """Options no measurement can use (an unregistered model, say)."""


def _memory_probe(model_name: str, seconds: float, mode: str, queue: multiprocessing.Queue) -> None:
    """Put ("ok", (first, warm)): the peak resident memory (MiB) the first and then a second enhancement add
    over what came before; or ("error", what went wrong), so that the parent need not wait for a timeout."""
    try:
        model = registry.build(model_name).eval()
        audio = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
        added = []
        for _ in range(2):
            Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current size
            before = _resident_kib("VmRSS")
            with torch.inference_mode():
                enhance(audio, model, mode)
            added.append((_resident_kib("VmHWM") - before) / 1024)
    except Exception as error:  # any failure is reported to the parent, named
        queue.put(("error", f"{type(error).__name__}: {error}"))
        return
    queue.put(("ok", tuple(added)))


MEMORY_PROBE_LIMIT_SECONDS = 600
"""How long one memory probe may take before it is stopped (a 4 s enhancement takes seconds)."""


def _probe_result(process: multiprocessing.Process, queue: multiprocessing.Queue, model_name: str) -> tuple:
    """The probe's (first, warm) MiB; ComplexityError as soon as it reports an error or dies without a word (the
    kernel's out-of-memory killer, say), or after MEMORY_PROBE_LIMIT_SECONDS."""
    deadline = time.monotonic() + MEMORY_PROBE_LIMIT_SECONDS
    while True:
        try:
            status, value = queue.get(timeout=1)
            break
        except Empty:
            if not process.is_alive() and queue.empty():
                process.join()
                raise ComplexityError(f"the memory probe of {model_name} died (exit code {process.exitcode}) "
                                      "before it reported; a negative code is the signal that killed it") from None
            if time.monotonic() > deadline:
                process.terminate()
                process.join()
                raise ComplexityError(f"the memory probe of {model_name} took over {MEMORY_PROBE_LIMIT_SECONDS} s; "
                                      "stopped") from None
    process.join()
    if status == "error":
        raise ComplexityError(f"the memory probe of {model_name} failed: {value}")
    return value


@dataclass
class PeakMemory:
    """MiB over the loaded model: one enhancement after a warm-up (median, max) and the first one (median)."""

    median_mb: float
    max_mb: float
    first_call_mb: float


def peak_memory_mb(model_name: str, seconds: float, mode: str, probes: int = MEMORY_PROBES) -> PeakMemory:
    """Peak resident memory one enhancement adds over the loaded model, in fresh processes.

    The first enhancement in a process also pages in library kernels and fills the allocator's
    caches: 200-250 MiB for IMSE, and 40 MiB more in a nox virtualenv than in the system Python
    with the same torch. A second one adds its working memory only (about 33 MiB on 4 s), which
    is what a running service pays per call, so that is the headline; the first call is kept
    beside it. Each probe is a fresh process, and the median of several is taken, as one probe
    varies from process to process. Linux only: it resets the kernel's peak-RSS counter
    (/proc/self/clear_refs) before each enhancement.
    """
    context = multiprocessing.get_context("spawn")
    first_calls, warm_calls = [], []
    for _ in range(probes):
        queue = context.Queue()
        process = context.Process(target=_memory_probe, args=(model_name, seconds, mode, queue))
        process.start()
        first, warm = _probe_result(process, queue, model_name)
        first_calls.append(first)
        warm_calls.append(warm)
    return PeakMemory(statistics.median(warm_calls), max(warm_calls), statistics.median(first_calls))


def gpu_latency(model: SpeechEnhancementNet, samples: int, repeats: int = GPU_REPEATS) -> float | None:
    """Median forward time on the GPU with CUDA events, in seconds; None without a GPU."""
    if not torch.cuda.is_available():
        return None
    device_model = model.to("cuda")
    inputs = tuple(tensor.cuda() for tensor in network_inputs(model, samples))
    times = []
    with torch.inference_mode():
        for index in range(repeats + 3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            device_model(*inputs)
            end.record()
            torch.cuda.synchronize()
            if index >= 3:
                times.append(start.elapsed_time(end) / 1000)
    model.to("cpu")
    return statistics.median(times)


@dataclass
class ComplexityRow:
    """Everything measured for one model, flat, for the CSV."""

    model: str
    parameters: int
    parameters_paper_convention: int
    macs_1s_fvcore: int
    macs_1s_ptflops: int
    macs_segment_fvcore: int | None
    """None for a model without segments (GTCRN takes whole utterances)."""
    macs_segment_ptflops: int | None
    counter_difference_percent: float
    fvcore_skipped: str
    ptflops_skipped: str
    latency: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: float | None = None
    peak_memory_mb_max: float | None = None
    first_call_memory_mb: float | None = None
    gpu_forward_s: float | None = None
    onnx_file_mb: float | None = None
    """Size of the network exported to ONNX (`imse.export`); None where it is not exported (see onnx_note)."""
    onnx_note: str = ""
    """Why an onnxruntime figure is missing: no `onnx` extra, an export refused, a graph of one segment's length."""


def _segment_macs(model: torch.nn.Module) -> tuple[int | None, int | None]:
    """(fvcore, ptflops) MACs of one segment; (None, None) for a model that takes whole utterances."""
    if model.config.front_end.segment_size is None:
        return None, None
    return fvcore_macs(model, SEGMENT_SIZE).total, ptflops_macs(model, SEGMENT_SIZE).total


def measure(
    model_name: str, latency_seconds: float = LATENCY_SECONDS, repeats: int = REPEATS, memory: bool = True
) -> ComplexityRow:
    """Parameters, MACs by both counters, latency at 1 and all threads in both modes, memory, and the
    exported ONNX file's size and onnxruntime latency on one thread."""
    model = registry.build(model_name).eval()
    total, paper = parameter_counts(model)
    one_second = (fvcore_macs(model, ONE_SECOND), ptflops_macs(model, ONE_SECOND))
    segment = _segment_macs(model)
    difference = 100 * abs(one_second[0].total - one_second[1].total) / one_second[1].total
    row = ComplexityRow(
        model_name, total, paper, one_second[0].total, one_second[1].total, *segment,
        round(difference, 3), " ".join(one_second[0].skipped), " ".join(one_second[1].skipped),
    )
    with torch.inference_mode():
        for mode in LATENCY_MODES:
            for threads in sorted({1, ALL_THREADS}):
                timing = latency(model, latency_seconds, mode, threads, repeats)
                for key, value in timing.items():
                    row.latency[f"{mode}_{threads}thread_{key}"] = round(value, 4)
    if memory:
        usage = peak_memory_mb(model_name, latency_seconds, "segmented")
        row.peak_memory_mb, row.peak_memory_mb_max = round(usage.median_mb, 1), round(usage.max_mb, 1)
        row.first_call_memory_mb = round(usage.first_call_mb, 1)
    row.gpu_forward_s = gpu_latency(model, SEGMENT_SIZE)
    onnxruntime_measures(model_name, row, latency_seconds, repeats)
    return row


def onnxruntime_measures(model_name: str, row: ComplexityRow, seconds: float, repeats: int) -> None:
    """The exported file's size and onnxruntime's latency on one thread, in each mode the graph runs, into `row`.

    The network (weights drawn with EXPORT_SEED) is exported as `python -m imse.export` exports it
    (checked against torch before it is kept) into a temporary folder, and timed through
    `imse.enhance` with the same front end and segmenting as the torch columns. What cannot be
    measured is said in `row.onnx_note`, never guessed.
    """
    from imse.export import ExportError, MissingExtraError, export_onnx, require_onnx

    try:
        require_onnx()
    except MissingExtraError as error:
        row.onnx_note = str(error)
        return
    from imse.export.runtime import OnnxRuntimeNetwork

    with torch.random.fork_rng():
        torch.manual_seed(EXPORT_SEED)
        model = registry.build(model_name).eval()
    with tempfile.TemporaryDirectory(prefix="bench-complexity-") as directory:
        path = Path(directory) / "network.onnx"
        try:
            export_onnx(model, path)
        except ExportError as error:
            row.onnx_note = f"export refused: {error}"
            return
        row.onnx_file_mb = round(path.stat().st_size / 1e6, 2)
        network = OnnxRuntimeNetwork(path, model.config, threads=ONNXRUNTIME_THREADS)
        for mode in LATENCY_MODES:
            if mode == "full" and isinstance(network.frames, int):
                row.onnx_note = f"full: the graph is exported at one segment's length ({network.frames} frames)"
                continue
            timing = latency(network, seconds, mode, ONNXRUNTIME_THREADS, repeats)
            for key, value in timing.items():
                row.latency[f"onnxruntime_{mode}_{ONNXRUNTIME_THREADS}thread_{key}"] = round(value, 4)


def scaling(model_name: str, seconds: tuple[int, ...] = SCALING_SECONDS, repeats: int = REPEATS) -> list[dict]:
    """MACs (ptflops on the meta device, by block type) and single-pass latency for growing input lengths.

    Latency runs on all threads whatever the caller's torch setting, so that `bench.reproduce
    --threads 1` and a standalone run measure the same thing. ptflops, not fvcore: fvcore traces
    on real tensors, and its 16 s trace of MUSE does not fit in memory on a 24 GiB machine; the
    meta device makes the count independent of length.
    """
    model = registry.build(model_name).eval()
    rows = []
    for duration in tqdm(seconds, desc=f"scaling {model_name}", unit="length", leave=False):
        samples = model.config.front_end.valid_length(duration * SAMPLE_RATE)
        count = ptflops_macs(model, samples)
        with torch.inference_mode():
            timing = latency(model, samples / SAMPLE_RATE, "full", ALL_THREADS, repeats)
        rows.append({
            "model": model_name, "seconds": duration, "samples": samples, "macs": count.total,
            **{f"macs_{kind}": count.by_block.get(kind) for kind in BLOCK_TYPES},  # None: no such blocks
            "latency_threads": ALL_THREADS, "latency_median_s": round(timing["median_s"], 4),
            "rtf": round(timing["rtf"], 4),
        })
    return rows


def machine_description() -> dict[str, str]:
    """The machine the figures were measured on, for each row of the CSV."""
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": str(os.cpu_count()),
        "cpu_instruction_set": instruction_set(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def _flatten(row: ComplexityRow) -> dict:
    values = asdict(row)
    values.update(values.pop("latency"))
    return values


def format_rows(rows: list[dict], output: Path | None, output_format: str, provenance: dict) -> str:
    """Rows with the provenance columns appended, as CSV or Markdown; written atomically to `output` when given."""
    import pandas

    frame = pandas.DataFrame(rows)
    for key, value in provenance.items():
        frame[key] = value
    text = frame.to_markdown(index=False) if output_format == "markdown" else frame.to_csv(index=False)
    if output is not None:
        atomic_write_text(output, text)
    return text


@dataclass(frozen=True)
class ComplexityOptions:
    """What `measure_complexity` measures and where it writes: the typed form of the command line."""

    models: Sequence[str] = ()
    """Registered model names; empty: all of them."""
    output_format: str = "csv"
    output: Path | None = None
    scaling_output: Path | None = None
    latency_seconds: float = LATENCY_SECONDS
    repeats: int = REPEATS
    memory: bool = True

    def argv(self) -> list[str]:
        """The command line that asks for these options (non-default ones only), recorded in the CSV."""
        words = ["--model", *self.models] if self.models else []
        optional = (("--format", self.output_format, "csv"), ("--output", self.output, None),
                    ("--latency-seconds", self.latency_seconds, LATENCY_SECONDS),
                    ("--repeats", self.repeats, REPEATS))
        for flag, value, default in optional:
            if value != default:
                words += [flag, str(value)]
        if not self.memory:
            words.append("--no-memory")
        if self.scaling_output is not None:
            words += ["--scaling-output", str(self.scaling_output)]
        return words


def measure_complexity(options: ComplexityOptions, argv: list[str] | None = None) -> str:
    """Measure every model of `options`, write the table (and the scaling table) where asked; returns the table text.

    `argv` is the command line recorded in the provenance columns (default: `options.argv()`).
    Raises ComplexityError for an unregistered model or an unknown format.
    """
    names = list(options.models) or registry.model_names()
    if options.output_format not in FORMATS:
        raise ComplexityError(f"unknown format {options.output_format!r}; choose one of {FORMATS}")
    try:
        for name in names:
            registry.model(name)
    except KeyError as error:
        raise ComplexityError(error.args[0] if error.args else str(error)) from None
    provenance = {
        "source": "measured",
        "command": "python -m bench.complexity " + " ".join(options.argv() if argv is None else argv),
        "revision": running_revision(),
        **machine_description(),
        "versions": " ".join(f"{k}={v}" for k, v in package_versions(PACKAGES + ONNX_PACKAGES).items()),
    }
    rows = []
    for name in tqdm(names, desc="complexity", unit="model"):
        rows.append(_flatten(measure(name, options.latency_seconds, options.repeats, options.memory)))
    if not torch.cuda.is_available():
        print("note: no CUDA device; GPU latency skipped", file=sys.stderr)
    text = format_rows(rows, options.output, options.output_format, provenance)
    if options.scaling_output:
        scaled = [row for name in names for row in scaling(name, repeats=options.repeats)]
        format_rows(scaled, options.scaling_output, "csv", provenance)
    return text


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.complexity`: parse, measure, print the table; 2 on an error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.complexity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", action="extend", help="registered models (default: all)")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--output", type=Path, help="write the table here (default: print it)")
    parser.add_argument("--scaling-output", type=Path, help="also write MACs/latency against input length here")
    parser.add_argument("--latency-seconds", type=float, default=LATENCY_SECONDS)
    parser.add_argument("--repeats", type=positive_integer, default=REPEATS)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe (a fresh process)")
    arguments = parser.parse_args(argv)
    options = ComplexityOptions(tuple(arguments.model or ()), arguments.format, arguments.output,
                                arguments.scaling_output, arguments.latency_seconds, arguments.repeats,
                                not arguments.no_memory)
    try:
        text = measure_complexity(options, argv)
    except BenchError as error:
        return report_error(error)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
