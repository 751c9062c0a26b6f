"""ONNX export and the onnxruntime backend: the exported graph gives the torch network's output
(waveform within 1e-4, PESQ to 3 decimals) through the same front end, at about the weights' size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from imse.enhance import EnhancementError, enhance
from imse.export import EXTRA_HINT, WAVEFORM_TOLERANCE, ExportError, MissingExtraError, export_onnx, require_onnx
from imse.registry import registry

onnx = pytest.importorskip("onnx", reason=f"ONNX tests need the onnx extra: {EXTRA_HINT}")
pytest.importorskip("onnxruntime", reason=f"ONNX tests need the onnx extra: {EXTRA_HINT}")

from imse.export.runtime import OnnxRuntimeNetwork, onnxruntime_network  # noqa: E402

BUNDLES = ("imse-vb-3.399", "imse-vb-3.373", "muse-vb", "gtcrn-vb")
SAMPLE = "p232_005"
"""A real noisy test utterance of 6.2 s: three 30,700-sample segments, the last end-aligned."""


@pytest.fixture
def export_dir(tmp_path, monkeypatch):
    """The export cache in a temporary directory, never in the shared checkpoints."""
    monkeypatch.setenv("IMSE_EXPORT_DIR", str(tmp_path / "exports"))
    return tmp_path / "exports"


def _noisy(sample_dir, name: str = SAMPLE) -> np.ndarray:
    return soundfile.read(sample_dir / "noisy" / f"{name}.wav", dtype="float32")[0]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_onnxruntime_enhances_as_torch_does(bundle, checkpoint_dir, sample_dir, export_dir, one_torch_thread):
    from imse.loading import load_model

    loaded = load_model(bundle, cache_dir=checkpoint_dir)
    network = onnxruntime_network(loaded, threads=1)
    noisy = _noisy(sample_dir)
    expected = enhance(noisy, loaded.model)
    actual = enhance(noisy, network)
    assert actual.shape == expected.shape == noisy.shape
    assert np.abs(actual - expected).max() < WAVEFORM_TOLERANCE
    assert network.path.parent == export_dir and loaded.sha256[:16] in network.path.name


@pytest.mark.parametrize("name", ["imse-de", "imse-taylor"])
def test_hybrids_export_from_their_configs(name, sample_dir, tmp_path, one_torch_thread):
    torch.manual_seed(0)
    model = registry.build(name).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    noisy = _noisy(sample_dir)
    difference = np.abs(enhance(noisy, OnnxRuntimeNetwork(path, model.config, threads=1)) - enhance(noisy, model))
    assert difference.max() < WAVEFORM_TOLERANCE


def test_exported_imse_holds_its_weights_once_and_no_positional_tables(tmp_path):
    model = registry.build("imse").eval()
    path = export_onnx(model, tmp_path / "imse.onnx")
    weight_bytes = sum(parameter.numel() * 4 for parameter in model.parameters())
    stored = onnx.load(str(path))
    initialiser_bytes = sum(onnx.numpy_helper.to_array(tensor).nbytes for tensor in stored.graph.initializer)
    constant_bytes = sum(len(node.attribute[0].t.raw_data) for node in stored.graph.node if node.op_type == "Constant")
    # MALA's sin/cos tables at the first level alone are 2 x 8 x 308 x 128 floats (2.5 MB) per block
    assert initialiser_bytes + constant_bytes < 1.15 * weight_bytes
    assert path.stat().st_size < 5_000_000
    operators = [node.op_type for node in stored.graph.node]
    assert "PRelu" not in operators and "Elu" not in operators  # written as faster operators (imse.export, imse.mala)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left beside it


def test_a_fixed_segment_graph_refuses_another_length(tmp_path):
    model = registry.build("imse").eval()
    network = OnnxRuntimeNetwork(export_onnx(model, tmp_path / "imse.onnx"), model.config)
    with pytest.raises(EnhancementError, match="mode segmented"):
        enhance(np.random.default_rng(0).standard_normal(40_000).astype(np.float32), network, "full")


@pytest.mark.parametrize("training", [True, False])
def test_export_of_a_network_with_batch_norms_leaves_its_mode_as_it_was(training, tmp_path):
    """GTCRN's batch norms with running statistics far from batch statistics: the graph and its check use the
    running ones (eval mode) whatever mode the model came in, and the model leaves in that mode. (A wrapper in
    training mode once switched the network to batch statistics during the check, and GTCRN was refused.)"""
    torch.manual_seed(0)
    model = registry.build("gtcrn").train(training)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    path = export_onnx(model, tmp_path / "gtcrn.onnx")
    assert model.training is training and all(module.training is training for module in model.modules())
    noisy = np.random.default_rng(0).standard_normal(24_000).astype(np.float32) * 0.1
    network = OnnxRuntimeNetwork(path, model.config, threads=1)
    difference = np.abs(enhance(noisy, network) - enhance(noisy, model.eval()))
    assert difference.max() < WAVEFORM_TOLERANCE


def test_export_leaves_every_module_in_its_own_mode(tmp_path):
    """A model being fine-tuned with one batch norm frozen (eval) keeps it frozen after an export."""
    model = registry.build("gtcrn").train()
    frozen = model.encoder[0].norm.eval()
    export_onnx(model, tmp_path / "gtcrn.onnx")
    assert not frozen.training
    assert all(module.training for module in model.modules() if module is not frozen)


def test_a_graph_that_does_not_compute_what_torch_does_is_refused_and_not_written(tmp_path):
    """A Python number taken from the input is frozen into the traced graph at the example's value: the
    check on another input catches it, and nothing is written."""
    model = registry.build("gtcrn").eval()
    network = model.forward
    model.forward = lambda spectrum: network(spectrum) * float(spectrum.abs().max())
    with pytest.raises(ExportError, match="off the torch network .* it was not written"):
        export_onnx(model, tmp_path / "gtcrn.onnx")
    assert not list(tmp_path.iterdir())


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[onnx\]"'):
        require_onnx()


def test_export_and_enhance_command_lines(tmp_path, checkpoint_dir, sample_dir, export_dir, monkeypatch):
    from imse.enhance.__main__ import main as enhance_main
    from imse.export.__main__ import main as export_main

    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(checkpoint_dir))
    assert export_main(["--checkpoint", "imse-vb-3.399", "--format", "onnx", "--output", str(tmp_path / "i.onnx")]) == 0
    noisy = str(sample_dir / "noisy" / f"{SAMPLE}.wav")
    for backend in ("torch", "onnxruntime"):
        assert enhance_main([noisy, "--checkpoint", "imse-vb-3.399", "--backend", backend, "--threads", "1",
                             "--subtype", "FLOAT", "--output-dir", str(tmp_path / backend)]) == 0
    torch_output = soundfile.read(tmp_path / "torch" / f"{SAMPLE}.wav")[0]
    onnx_output = soundfile.read(tmp_path / "onnxruntime" / f"{SAMPLE}.wav")[0]
    assert np.abs(torch_output - onnx_output).max() < WAVEFORM_TOLERANCE
    assert enhance_main([noisy, "--checkpoint", "imse-vb-3.399", "--backend", "onnxruntime", "--mode", "stream",
                         "--output-dir", str(tmp_path / "stream")]) == 2


def test_bad_outputs_are_refused_before_any_export(tmp_path, sample_dir, monkeypatch, capsys):
    """A directory, a file of another kind (left intact) and an unwritable place: refused, named, with no
    network built (building one here would fail the test)."""
    from imse.enhance import __main__ as enhance_cli
    from imse.export.__main__ import main as export_main

    def no_network(*_):
        raise AssertionError("the network was built before the output was checked")

    monkeypatch.setattr("imse.export.__main__.load_model", no_network)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for output, problem in ((tmp_path, "is a directory"), (notes, "must be named .onnx"),
                            (Path("/proc/x/model.onnx"), "cannot create its folder")):
        assert export_main(["--checkpoint", "imse-vb-3.399", "--output", str(output)]) == 2
        assert problem in capsys.readouterr().err
    assert notes.read_text() == "mine"

    monkeypatch.setattr(enhance_cli, "_network", no_network)
    noisy_dir = sample_dir / "noisy"
    assert enhance_cli.main([str(noisy_dir / f"{SAMPLE}.wav"), "--checkpoint", "imse-vb-3.399", "--backend",
                             "onnxruntime", "--output-dir", str(noisy_dir)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["imse-vb-3.399", "gtcrn-vb"])
def test_pesq_of_the_sample_is_the_same_in_both_backends(bundle, checkpoint_dir, sample_dir, export_dir,
                                                          one_torch_thread):
    from pesq import pesq

    from imse.loading import load_model

    loaded = load_model(bundle, cache_dir=checkpoint_dir)
    network = onnxruntime_network(loaded, threads=1)
    for path in sorted((sample_dir / "noisy").glob("*.wav")):
        clean = soundfile.read(sample_dir / "clean" / path.name, dtype="float32")[0]
        noisy = _noisy(sample_dir, path.stem)
        scores = [pesq(16_000, clean, enhance(noisy, backend), "wb") for backend in (loaded.model, network)]
        assert round(scores[0], 3) == round(scores[1], 3), path.name


def _exported_and_run(module: torch.nn.Module, example: torch.Tensor, tmp_path) -> tuple[list[str], np.ndarray]:
    """The operators of `module`'s ONNX graph as `imse.export` writes it, and onnxruntime's output on `example`."""
    import onnxruntime

    from imse.export import OPSET, _rewritten_for_onnxruntime

    path = tmp_path / "module.onnx"
    with torch.no_grad(), _rewritten_for_onnxruntime(module):
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=OPSET)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    return [node.op_type for node in onnx.load(str(path)).graph.node], output


@pytest.mark.parametrize("slopes", [1, 16])
@pytest.mark.parametrize("shape", [(2, 16), (1, 16, 50), (1, 16, 30, 40)])
def test_prelu_is_exported_without_onnxruntimes_slow_prelu_and_gives_the_same_bits(slopes, shape, tmp_path):
    prelu = torch.nn.PReLU(slopes)
    with torch.no_grad():
        prelu.weight.copy_(torch.linspace(-0.7, 0.9, slopes))  # a negative slope too, and distinct per channel
    example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    operators, output = _exported_and_run(prelu, example, tmp_path)
    assert "PRelu" not in operators
    np.testing.assert_array_equal(output, prelu(example).detach().numpy())


def test_the_prelu_rewrite_touches_only_the_exported_model_and_only_during_the_export(tmp_path):
    model = registry.build("gtcrn").eval()
    prelus = [module for module in model.modules() if isinstance(module, torch.nn.PReLU)]
    assert prelus
    path = export_onnx(model, tmp_path / "gtcrn.onnx")
    assert "PRelu" not in [node.op_type for node in onnx.load(str(path)).graph.node]
    assert all("forward" not in vars(module) for module in prelus)  # nn.PReLU's own forward again
    other = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.PReLU(3), (torch.randn(1, 3, 4, 4),), str(other), dynamo=False, opset_version=18)
    assert "PRelu" in [node.op_type for node in onnx.load(str(other)).graph.node]


def test_malas_feature_map_exported_as_relu_and_exp_is_elu_plus_one(tmp_path):
    from imse.mala import elu_plus_one

    class FeatureMap(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return elu_plus_one(x)

    example = torch.cat((torch.linspace(-30, 30, 60_001), torch.tensor([0.0, -0.0, 1e-30, -1e-30, -100.0])))
    operators, output = _exported_and_run(FeatureMap(), example, tmp_path)
    assert "Elu" not in operators and "Exp" in operators
    expected = (torch.nn.functional.elu(example.double()) + 1).numpy()  # float64 reference
    np.testing.assert_allclose(output, expected, rtol=2**-23, atol=2**-24)  # an ulp of float32


@pytest.mark.parametrize("dim", [16, 32, 48])  # hidden widths 42, 85, 127 (IMSE's levels): none a multiple of 16
def test_the_feedforward_is_exported_as_two_padded_branches_with_its_values(dim, tmp_path):
    from imse.blocks import GatedFeedForward
    from imse.export import NCHWC_BLOCK

    torch.manual_seed(0)
    feedforward = GatedFeedForward(dim).eval()
    example = torch.randn(1, dim, 20, 24)
    operators, output = _exported_and_run(feedforward, example, tmp_path)
    assert "Split" not in operators and "Slice" not in operators
    widths = [attribute.i for node in onnx.load(str(tmp_path / "module.onnx")).graph.node if node.op_type == "Conv"
              for attribute in node.attribute if attribute.name == "group" and attribute.i > 1]  # the depthwise convs'
    assert len(widths) == 2 and all(width % NCHWC_BLOCK == 0 for width in widths)
    with torch.no_grad():
        reference = feedforward.double()(example.double()).numpy()  # float64
        single = feedforward.float()(example).numpy()
    # As close to float64 as torch's own float32 forward is (a misplaced gate or value channel is off by O(1)).
    assert np.abs(output - reference).max() <= 4 * np.abs(single - reference).max()


def test_a_feedforward_with_a_hooked_conv_is_exported_as_it_is_and_a_failed_rewrite_undoes_the_others(tmp_path):
    from imse.blocks import GatedFeedForward
    from imse.export import _rewritten_for_onnxruntime

    torch.manual_seed(0)
    hooked = GatedFeedForward(16).eval()
    hooked.project_in.register_forward_hook(lambda module, inputs, output: output * 1.5)
    example = torch.randn(1, 16, 8, 12)
    _, output = _exported_and_run(hooked, example, tmp_path)
    with torch.no_grad():
        np.testing.assert_allclose(output, hooked(example).numpy(), rtol=1e-5, atol=1e-6)  # the hook was traced

    model = torch.nn.Sequential(torch.nn.PReLU(4), GatedFeedForward(4), GatedFeedForward(4))
    model[2].project_out = torch.nn.Conv2d(10, 4, 1)  # with a bias: not a plain GDFN, left as it is
    with _rewritten_for_onnxruntime(model):
        assert "forward" in vars(model[0]) and "forward" in vars(model[1]) and "forward" not in vars(model[2])
    assert not any("forward" in vars(module) for module in model.modules())

    class Failing(torch.nn.Module):
        def modules(self):  # rewrites two modules, then fails half-way through the walk
            yield from model.modules()
            raise RuntimeError("walk failed")

    with pytest.raises(RuntimeError, match="walk failed"), _rewritten_for_onnxruntime(Failing()):
        pass
    assert not any("forward" in vars(module) for module in model.modules())
