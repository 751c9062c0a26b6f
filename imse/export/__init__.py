"""Export a registered model's network to ONNX, for onnxruntime and the devices IMSE is meant for.

The graph holds the network only, on the model's own front-end features (`imse.dsp.analyse`
gives its inputs, `imse.dsp.synthesise` takes its outputs): the STFT, RMS normalisation and
segmenting stay in `imse.enhance`, shared with the torch backend. A model with a segment size
(the U-Nets: 30,700 samples, 308 frames) is exported at that one length, which is all its
segmented inference runs; a model without one (GTCRN) takes any number of frames.

Every export is checked before it is written: onnxruntime must give the torch network's
waveform (through `synthesise`) within `WAVEFORM_TOLERANCE` of its peak (float32 rounding grows
with the signal: white noise drives IMSE's output to several times full scale, where the two
backends differ by 1.1e-4) on noise other than the example it was traced on (so a value the
trace froze from its input is caught), and, for a graph that takes any length, on a second
length; a graph that does not is refused (ExportError), never written. GTCRN (whole utterances,
any length) exports and passes: its batch norms are exported, and checked, in eval mode.

MALA's rotary tables are computed in the graph (`imse.mala`), not stored: the file is the
weights plus the graph's structure (IMSE: about 3.6 MB for 1.7 MB of weights).

Three parts are traced in other, equivalent forms that onnxruntime runs faster, for the export
only (the torch network keeps the forms its trained weights were made with): PReLU as relu and
min (`_prelu_as_relu`), MALA's elu + 1 as relu and exp (`imse.mala.elu_plus_one`), and the
gated feed-forward as two zero-padded branches (`_feedforward_as_branches`).

The exported file of a checkpoint is cached in $IMSE_EXPORT_DIR, else the user cache
(~/.cache/imse/onnx), named by the checkpoint's SHA-256 and `EXPORT_VERSION`, built on first use
and written atomically. It is not put beside the checkpoints, which may be a read-only share.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from imse.atomic import atomic_write
from imse.blocks import GatedFeedForward, unmodified_convs
from imse.dsp import analyse, synthesise
from imse.frontend import FrontEnd
from imse.loading import LoadedModel

FORMATS = ("onnx",)

OPSET = 18
"""ONNX opset of the exported graphs (onnxruntime 1.32 runs up to 23)."""

EXPORT_VERSION = f"torch{torch.__version__.split('+')[0]}-opset{OPSET}-v3"
"""Part of a cached export's name: a new torch, opset or change to this module makes a new file."""

WAVEFORM_TOLERANCE = 1e-4
"""Max abs difference of the enhanced waveforms, torch against onnxruntime (the parity tests on
real speech hold the export to it; the export's own check on noise, to it times the peak)."""

EXAMPLE_SECONDS = 2
"""Length of the example input of a model that takes whole utterances (any length is then accepted)."""

TIME_AXIS = 2
"""The frames axis of the graph's inputs and outputs: [batch, frequency, frames(, 2)] in both representations."""

CACHE_VARIABLE = "IMSE_EXPORT_DIR"

EXTRA_HINT = 'pip install -e ".[onnx]"'


class ExportError(ValueError):
    """An exported graph that does not compute what the torch network computes."""


class MissingExtraError(ImportError):
    """onnx or onnxruntime is not installed; the message names the extra that installs them."""


def require_onnx() -> None:
    """Import onnx and onnxruntime, or raise MissingExtraError naming the `onnx` extra."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise MissingExtraError(f"ONNX export and the onnxruntime backend need {error.name}: {EXTRA_HINT}") from error


def input_names(front_end: FrontEnd) -> tuple[str, ...]:
    """The graph's inputs: what `imse.dsp.analyse` gives for the front end's representation."""
    return ("spectrum",) if front_end.representation == "complex" else ("magnitude", "phase")


def output_names(front_end: FrontEnd) -> tuple[str, ...]:
    """The graph's outputs: what `imse.dsp.synthesise` takes (the U-Nets' complex output is left out)."""
    return ("enhanced_spectrum",) if front_end.representation == "complex" else ("magnitude", "phase")


class _NetworkOutputs(nn.Module):
    """The network with only the outputs that synthesis takes."""

    def __init__(self, network: nn.Module, count: int) -> None:
        super().__init__()
        self.network = network
        self.count = count

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.network(*features)
        return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs[: self.count])


def _prelu_as_relu(self: nn.PReLU, x: torch.Tensor) -> torch.Tensor:
    """PReLU written relu(x) + slope * min(x, 0), the same values (a zero's sign aside): onnxruntime's PRelu
    with a per-channel slope runs a broadcasting loop 8x as slow (8.4 against 1.05 ms on [1, 16, 308, 256],
    one thread), and IMSE has 16 of them, about 7% of its time."""
    slope = self.weight if self.weight.numel() == 1 else self.weight.reshape(-1, *[1] * (x.dim() - 2))
    return functional.relu(x) + slope * torch.minimum(x, torch.zeros((), dtype=x.dtype))


NCHWC_BLOCK = 16
"""Channel multiple of onnxruntime's blocked-layout (NCHWc) convolutions: 8 on AVX2, 16 on AVX-512 (16 serves
both). A convolution whose channels are not a multiple runs in onnxruntime's plain layout, several times slower."""


def _zero_padded(weight: torch.Tensor, size: int, dim: int = 0) -> torch.Tensor:
    """`weight` with zeros appended along `dim` up to `size`."""
    shape = list(weight.shape)
    shape[dim] = size - weight.shape[dim]
    return torch.cat((weight, weight.new_zeros(shape)), dim=dim)


def _feedforward_as_branches(module: GatedFeedForward) -> Callable[[torch.Tensor], torch.Tensor]:
    """The GDFN's forward written as a gate and a value branch (1x1 and depthwise conv each, no channel split),
    each widened with zero channels to a multiple of NCHWC_BLOCK: the same values (the added channels are 0,
    gelu(0) * 0 = 0, and project_out gives them weight 0), and IMSE's network runs about 15% faster in
    onnxruntime (its hidden widths, 2 x 42, 2 x 85 and 2 x 127 channels, kept these convolutions out of the
    blocked layout). The padded weights are constants of the graph (IMSE's file: 3.57 -> 3.59 MB)."""
    hidden = module.project_out.in_channels
    width = -(-hidden // NCHWC_BLOCK) * NCHWC_BLOCK
    project_in, depthwise = module.project_in.weight.detach(), module.depthwise.weight.detach()
    gate_in, value_in = (_zero_padded(half, width) for half in project_in.split(hidden))
    gate_depthwise, value_depthwise = (_zero_padded(half, width) for half in depthwise.split(hidden))
    project_out = _zero_padded(module.project_out.weight.detach(), width, dim=1)
    padding, groups = module.depthwise.padding, width

    def forward(x: torch.Tensor) -> torch.Tensor:
        gate = functional.conv2d(functional.conv2d(x, gate_in), gate_depthwise, padding=padding, groups=groups)
        value = functional.conv2d(functional.conv2d(x, value_in), value_depthwise, padding=padding, groups=groups)
        return functional.conv2d(functional.gelu(gate) * value, project_out)

    return forward


def _plain_feedforward(module: nn.Module) -> bool:
    """A GatedFeedForward as built: bias-free plain convs with no hooks, whose weights are all its forward uses."""
    if type(module) is not GatedFeedForward:
        return False
    convs = (module.project_in, module.depthwise, module.project_out)
    return unmodified_convs(*convs) and all(conv.bias is None for conv in convs)


@contextlib.contextmanager
def _rewritten_for_onnxruntime(model: nn.Module):
    """The model's PReLUs traced as `_prelu_as_relu`, and its GDFNs as `_feedforward_as_branches`, for one export;
    only this model is touched, only its own forwards (none a user has set) are replaced, and a GDFN whose convs
    were replaced or hooked is traced as it is."""
    rewritten = []
    try:
        for module in model.modules():
            if "forward" in vars(module):
                continue
            if type(module) is nn.PReLU:
                module.forward = types.MethodType(_prelu_as_relu, module)
            elif _plain_feedforward(module):
                module.forward = _feedforward_as_branches(module)
            else:
                continue
            rewritten.append(module)
        yield
    finally:
        for module in rewritten:
            del module.forward


def check_output(output: str | os.PathLike) -> Path:
    """Refuse, before a minute of exporting, an output that is a directory, lacks the .onnx suffix (so no
    other kind of file is ever replaced) or lies where nothing can be written."""
    output = Path(output)
    if output.is_dir():
        raise ExportError(f"--output {output} is a directory; name a file in it, e.g. {output / 'model.onnx'}")
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"--output {output}: an ONNX file must be named .onnx (an existing file of another "
                          "kind is never replaced)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"--output {output}: cannot create its folder: {error.strerror}") from None
    if not os.access(output.parent, os.W_OK):
        raise ExportError(f"--output {output}: its folder {output.parent} is not writable")
    return output


def export_onnx(model: nn.Module, output: str | os.PathLike) -> Path:
    """Write the network of `model` (a registered model) as ONNX to `output`, atomically; the graph is
    the network in eval mode, and every module of `model` is left in the mode it came in."""
    output = check_output(output)
    require_onnx()
    front_end: FrontEnd = model.config.front_end
    samples = front_end.segment_size or front_end.valid_length(EXAMPLE_SECONDS * front_end.sample_rate)
    example = analyse(torch.randn(1, samples, generator=torch.Generator().manual_seed(0)), front_end)
    names, outputs = input_names(front_end), output_names(front_end)
    dynamic = None
    if front_end.segment_size is None:
        dynamic = {name: {TIME_AXIS: "frames"} for name in names + outputs}
    # The wrapper is put in eval mode itself: torch.onnx.export restores the mode of the module it is given,
    # recursively, and a wrapper in training mode would switch the network's batch norms (GTCRN's) to batch
    # statistics, for the check below and for the caller afterwards. The caller's mode is restored at the end.
    modes = [(module, module.training) for module in model.modules()]  # each one's, e.g. a frozen batch norm
    wrapped = _NetworkOutputs(model, len(outputs)).eval()
    try:
        # torch.onnx.export writes to a path: a temporary one, checked, then moved into place atomically.
        with tempfile.TemporaryDirectory(dir=output.parent if output.parent.is_dir() else None) as directory:
            temporary = Path(directory) / output.name
            with torch.no_grad(), warnings.catch_warnings(), _rewritten_for_onnxruntime(wrapped):
                warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shapes fixed at one segment
                warnings.filterwarnings("ignore", module=r"torch\.onnx")  # its notes on constant folding
                torch.onnx.export(wrapped, example, str(temporary), dynamo=False, opset_version=OPSET,
                                  input_names=list(names), output_names=list(outputs), dynamic_axes=dynamic)
            lengths = [samples] if dynamic is None else [samples, samples + 7 * front_end.stft.hop_length]
            for length in lengths:
                _check_graph(temporary, wrapped, front_end, length)
            with atomic_write(output, "wb") as stream:
                stream.write(temporary.read_bytes())
    finally:
        for module, training in modes:
            module.training = training
    return output


def export_cache_dir() -> Path:
    """$IMSE_EXPORT_DIR, else $XDG_CACHE_HOME/imse/onnx, else ~/.cache/imse/onnx."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imse" / "onnx"


def unpacked(outputs: tuple[torch.Tensor, ...]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The outputs as `synthesise` takes them: one tensor alone, several as a tuple."""
    return outputs[0] if len(outputs) == 1 else outputs


def _check_graph(path: Path, network: nn.Module, front_end: FrontEnd, samples: int) -> None:
    """Refuse a graph whose waveform, on noise of `samples` samples, is not the torch network's."""
    import onnxruntime

    features = analyse(torch.randn(1, samples, generator=torch.Generator().manual_seed(1)), front_end)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {node.name: feature.numpy() for node, feature in zip(session.get_inputs(), features, strict=True)}
    exported = tuple(torch.from_numpy(array) for array in session.run(None, feed))
    with torch.no_grad():
        expected = synthesise(unpacked(network(*features)), front_end)
    actual = synthesise(unpacked(exported), front_end)
    difference = float((actual - expected).abs().max())
    if not difference < WAVEFORM_TOLERANCE * max(1.0, float(expected.abs().max())):
        raise ExportError(f"the exported graph of {type(network.network).__name__} is {difference:.1e} off the "
                          f"torch network on {samples} samples (tolerance {WAVEFORM_TOLERANCE} of the peak); "
                          "it was not written; use this model with --backend torch")


def exported_path(loaded: LoadedModel, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the exported file of a loaded checkpoint is cached."""
    directory = Path(cache_dir) if cache_dir else export_cache_dir()
    return directory / f"{loaded.model_name}-{loaded.sha256[:16]}-{EXPORT_VERSION}.onnx"


def cached_export(loaded: LoadedModel, cache_dir: str | os.PathLike | None = None) -> Path:
    """The exported file of a loaded checkpoint: from the cache, else exported into it now."""
    path = exported_path(loaded, cache_dir)
    if not path.is_file():
        export_onnx(loaded.model, path)
    return path
