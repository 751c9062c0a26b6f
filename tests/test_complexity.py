"""Complexity: parameter counts, MAC counts against hand computation, linear scaling."""

from __future__ import annotations

import multiprocessing
import os
from types import SimpleNamespace

import pytest
import torch

from bench import complexity
from bench.complexity import (
    LATENCY_MODES,
    ONE_SECOND,
    SCALING_SECONDS,
    fvcore_macs,
    main,
    parameter_counts,
    ptflops_macs,
    scaling,
    split_by_block,
)
from imse.idconv import InceptionDepthwiseEmbedding
from imse.mala import MagnitudeAwareLinearAttention
from imse.registry import ModelSpec, registry
from tests.dummies.models import TINY_IMSE


class _Wrapped(torch.nn.Module):
    """A single layer presented with the model's (magnitude, phase) call signature."""

    def __init__(self, layer: torch.nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layer = layer
        self.shape = shape
        self.config = registry.model("imse").config

    def forward(self, magnitude, phase):
        return self.layer(torch.ones(self.shape))


def test_imse_parameters():
    assert parameter_counts(registry.build("imse")) == (432_995, 427_619)


def test_conv_macs_equal_hand_computation():
    conv = torch.nn.Conv2d(16, 32, (3, 5), padding=(1, 2), bias=False)
    wrapped = _Wrapped(conv, (1, 16, 20, 30))
    expected = 20 * 30 * 32 * 16 * 3 * 5
    assert fvcore_macs(wrapped, ONE_SECOND).total == expected
    assert ptflops_macs(wrapped, ONE_SECOND).total == expected


def test_linear_attention_macs_equal_hand_computation():
    dim, heads, time, frequency = 16, 2, 12, 10
    points, head_dim = time * frequency, dim // heads
    wrapped = _Wrapped(MagnitudeAwareLinearAttention(dim, heads), (1, dim, time, frequency))
    convolutions = points * (dim * 4 * dim + dim * 25 + dim * dim)  # qkvo, 5x5 depthwise LePE, projection
    matmuls = heads * points * head_dim * (1 + 2 * head_dim)  # z, k^T v, then q (k^T v)
    biases = points * (4 * dim + dim + dim)  # ptflops adds one per output element of a conv with bias
    assert fvcore_macs(wrapped, ONE_SECOND).total == convolutions + matmuls
    assert ptflops_macs(wrapped, ONE_SECOND).total == convolutions + matmuls + biases


def test_the_two_counters_agree_within_five_percent_on_imse():
    model = registry.build("imse")
    fvcore_total, ptflops_total = fvcore_macs(model, ONE_SECOND).total, ptflops_macs(model, ONE_SECOND).total
    assert abs(fvcore_total - ptflops_total) / ptflops_total < 0.05
    # the official code measured 4.673 GMACs with fvcore at T = 164; ours skips one-path SKFF's no-op arithmetic
    # and the half of each decoder head's 1x1 conv (16 -> 64 channels, 128 bins) that its time stride discards
    discarded = 2 * 16 * 32 * 128 * 164
    assert abs(fvcore_total - (4.673e9 - discarded)) < 0.005e9


def test_imse_macs_are_linear_in_length():
    model = registry.build("imse")
    per_sample, attention_per_sample = {}, {}
    for seconds in (SCALING_SECONDS[1], SCALING_SECONDS[-1]):
        samples = model.config.front_end.valid_length(seconds * 16_000)
        count = ptflops_macs(model, samples)
        per_sample[seconds] = count.total / samples
        attention_per_sample[seconds] = count.by_block["attention"] / samples
    assert abs(per_sample[16] / per_sample[2] - 1) < 0.02
    assert abs(attention_per_sample[16] / attention_per_sample[2] - 1) < 0.02  # linear attention: linear


def test_the_counters_attribute_macs_to_the_same_blocks():
    """ptflops's per-module attribution (our hooks) against fvcore's (its trace), block by block."""
    model = registry.build("imse")
    fvcore_split, ptflops_split = fvcore_macs(model, ONE_SECOND).by_block, ptflops_macs(model, ONE_SECOND).by_block
    assert fvcore_split.keys() == ptflops_split.keys()
    for block, fvcore_count in fvcore_split.items():
        assert abs(ptflops_split[block] - fvcore_count) <= 0.05 * fvcore_count, block
    assert ptflops_split["feedforward"] == fvcore_split["feedforward"] > 0  # bias-free convs: no convention gap


def test_block_split_is_disjoint_and_complete():
    by_module = {"": 100, "encoder": 10, "mask_decoder": 5, "phase_decoder": 5, "unet": 80,
                 "unet.encoder1.embedding": 7, "unet.encoder1.blocks.0.attention": 30,
                 "unet.encoder1.blocks.0.attention.qkvo": 20, "unet.encoder1.blocks.0.feedforward": 25}
    split = split_by_block(by_module, 100)
    assert split == {"embedding": 7, "attention": 30, "feedforward": 25, "norm": 0,
                     "unet-resampling": 18, "encoder-decoder": 20}


def test_unknown_model_lists_the_known_ones(capsys):
    assert main(["--model", "no-such-model"]) == 2
    assert "imse" in capsys.readouterr().err


def test_latency_is_the_median_after_warmup_and_rtf_is_it_over_the_audio_length(monkeypatch):
    """A fake clock that each enhancement advances by a set time: the statistics are exact."""
    durations = iter([9.0, 1.0, 6.0, 2.0, 4.0, 3.0])  # the first is the warm-up
    clock = [0.0]
    calls = []

    def timed_enhance(audio, model, mode):
        calls.append((audio.size, mode))
        clock[0] += next(durations)

    monkeypatch.setattr(complexity, "enhance", timed_enhance)
    monkeypatch.setattr(complexity, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    timing = complexity.latency(None, 2.5, "full", threads=1, repeats=5, warmup=1)
    assert calls == [(40_000, "full")] * 6
    assert timing["median_s"] == 3.0  # median of 1, 6, 2, 4, 3 (mean 3.2): the warm-up's 9 s left out
    assert timing["p90_s"] == pytest.approx(5.2)  # linear interpolation between 4 and 6
    assert timing["rtf"] == pytest.approx(3.0 / 2.5)


def test_command_writes_a_table_of_consistent_measurements(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.models, "tiny", ModelSpec("tiny", TINY_IMSE, "test dummy"))
    output = tmp_path / "complexity.csv"
    seconds = 0.5
    assert main(["--model", "tiny", "--output", str(output), "--latency-seconds", str(seconds), "--repeats", "1",
                 "--no-memory"]) == 0
    import pandas

    table = pandas.read_csv(output)
    assert len(table) == 1
    row = table.iloc[0]
    model = registry.build("tiny")
    pointwise = sum(m.pointwise.weight.numel() for m in model.modules() if isinstance(m, InceptionDepthwiseEmbedding))
    assert row["model"] == "tiny" and row["parameters"] == sum(p.numel() for p in model.parameters())
    assert row["parameters_paper_convention"] == row["parameters"] - pointwise
    assert row["macs_1s_fvcore"] > 0 and row["macs_segment_fvcore"] > row["macs_1s_fvcore"]
    latency_columns = {column for column in table.columns if "thread_" in column and column.startswith(LATENCY_MODES)}
    threads = sorted({1, os.cpu_count()})
    assert latency_columns == {f"{mode}_{count}thread_{statistic}" for mode in LATENCY_MODES for count in threads
                               for statistic in ("median_s", "p90_s", "rtf")}
    for mode in LATENCY_MODES:
        for count in threads:
            median, p90, rtf = (row[f"{mode}_{count}thread_{statistic}"] for statistic in ("median_s", "p90_s", "rtf"))
            assert median > 0 and p90 == median  # one timed run: its own median and p90
            # each value is rounded to 4 decimals before it is written
            assert rtf == pytest.approx(median / seconds, abs=0.5e-4 + 0.5e-4 / seconds)
    assert row["cpu_count"] == os.cpu_count() and f"torch={torch.__version__}" in row["versions"].split()
    options = f"--model tiny --output {output} --latency-seconds {seconds} --repeats 1 --no-memory"
    assert row["command"] == f"python -m bench.complexity {options}"
    # onnxruntime, one thread: segmented only, as the U-Nets' graph has one segment's length, and the reason why
    onnx_columns = {column for column in table.columns if column.startswith("onnxruntime_")}
    assert onnx_columns == {f"onnxruntime_segmented_1thread_{statistic}" for statistic in ("median_s", "p90_s", "rtf")}
    assert row["onnxruntime_segmented_1thread_rtf"] > 0
    assert row["onnx_note"] == "full: the graph is exported at one segment's length (308 frames)"
    assert row["onnx_file_mb"] * 1e6 >= 4 * row["parameters"]  # float32 weights, stored once


def test_onnxruntime_columns_say_why_they_are_empty(monkeypatch):
    import imse.export
    from imse.export import ExportError, MissingExtraError

    row = complexity.ComplexityRow("imse", 0, 0, 0, 0, None, None, 0.0, "", "")

    def missing() -> None:
        raise MissingExtraError('ONNX export and the onnxruntime backend need onnxruntime: pip install -e ".[onnx]"')

    monkeypatch.setattr(imse.export, "require_onnx", missing)
    complexity.onnxruntime_measures("imse", row, 0.5, 1)
    assert row.onnx_file_mb is None and not row.latency and 'pip install -e ".[onnx]"' in row.onnx_note

    def refused(*_) -> None:
        raise ExportError("the exported graph of GTCRN is 1.0e-03 off the torch network; it was not written")

    monkeypatch.setattr(imse.export, "require_onnx", lambda: None)
    monkeypatch.setattr(imse.export, "export_onnx", refused)
    complexity.onnxruntime_measures("imse", row, 0.5, 1)
    assert row.onnx_file_mb is None and not row.latency
    assert row.onnx_note.startswith("export refused: the exported graph of GTCRN is 1.0e-03 off")


def test_scaling_latency_runs_on_all_threads_whatever_the_caller_set(monkeypatch):
    """bench.reproduce runs on one torch thread; the scaling latency must not follow it."""
    monkeypatch.setitem(registry.models, "tiny", ModelSpec("tiny", TINY_IMSE, "test dummy"))
    threads_used = []

    def fake_latency(model, seconds, mode, threads, repeats):
        threads_used.append(threads)
        return {"median_s": seconds, "p90_s": seconds, "rtf": 1.0}

    monkeypatch.setattr(complexity, "latency", fake_latency)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = scaling("tiny", seconds=(1, 2))
    finally:
        torch.set_num_threads(previous)
    assert threads_used == [os.cpu_count(), os.cpu_count()]
    assert [row["latency_threads"] for row in rows] == [os.cpu_count(), os.cpu_count()]


def test_reproduce_options_record_the_command_reproduce_always_recorded(tmp_path):
    options = complexity.ComplexityOptions(("imse", "muse"), output=tmp_path / "c.csv", repeats=3,
                                           scaling_output=tmp_path / "s.csv")
    assert options.argv() == ["--model", "imse", "muse", "--output", str(tmp_path / "c.csv"), "--repeats", "3",
                              "--scaling-output", str(tmp_path / "s.csv")]


def test_the_library_function_refuses_an_unknown_model_with_a_typed_error():
    with pytest.raises(complexity.ComplexityError, match="no-such-model"):
        complexity.measure_complexity(complexity.ComplexityOptions(("no-such-model",)))


GTCRN_AUTHORS_MACS = 33.0e6
"""The authors' MACs per second of audio (README @ 3862c44): ptflops's pytorch backend on 63 frames."""


def test_both_counters_count_gtcrns_grus_and_agree_near_the_authors_figure():
    """63 frames (16,000 samples), the authors' input. The counters differ by norms (fvcore), addmm biases and
    transposed convolutions (ptflops): 1.3%. Both sit about 14% under 33.0 M, which also counts norms, PReLU,
    GRU gates and biases (31.97 M with ptflops's pytorch backend on the official code; see bench.complexity)."""
    model = registry.build("gtcrn").eval()
    fvcore_count, ptflops_count = fvcore_macs(model, 16_000), ptflops_macs(model, 16_000)
    assert "gru" not in fvcore_count.skipped
    assert abs(fvcore_count.total - ptflops_count.total) / ptflops_count.total < 0.03
    for total in (fvcore_count.total, ptflops_count.total):
        assert 0.80 * GTCRN_AUTHORS_MACS < total < 0.90 * GTCRN_AUTHORS_MACS


def test_the_gru_handle_counts_the_matrix_products_of_every_direction():
    wrapped = _Wrapped(torch.nn.Sequential(), (1,))
    gru = torch.nn.GRU(8, 4, batch_first=True, bidirectional=True)
    wrapped.layer = torch.nn.Sequential()  # a module whose forward runs the GRU on a fixed [5, 12, 8] input
    wrapped.gru = gru
    wrapped.forward = lambda *_: gru(torch.ones(5, 12, 8))[0]
    expected = 5 * 12 * 2 * 3 * (8 * 4 + 4 * 4)
    assert fvcore_macs(wrapped, ONE_SECOND).total == expected
    biases = 5 * 12 * 2 * 6 * 4  # ptflops adds one per addmm output: up to both biases, 3 x hidden each
    assert expected < ptflops_macs(wrapped, ONE_SECOND).total <= expected + biases


def test_a_memory_probe_that_fails_is_reported_with_its_error_not_after_a_timeout():
    with pytest.raises(complexity.ComplexityError, match="memory probe of no-such-model failed: .*no-such-model"):
        complexity.peak_memory_mb("no-such-model", 0.5, "segmented", probes=1)


def test_a_memory_probe_that_dies_without_a_word_is_named_with_its_exit_code():
    context = multiprocessing.get_context("spawn")
    queue, process = context.Queue(), context.Process(target=os._exit, args=(3,))  # as the OOM killer leaves it
    process.start()
    with pytest.raises(complexity.ComplexityError, match=r"memory probe of imse died \(exit code 3\)"):
        complexity._probe_result(process, queue, "imse")
