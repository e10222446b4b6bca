"""The lesson's CIFAR-10 networks: shapes, parameter counts against the notebook's ``learn.summary()``, the
lesson's BnLayer, and class maps that are the linear head applied at every cell (the original CAM)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from camserve.models.checkpoint import load_checkpoint, save_checkpoint
from camserve.models.cifar.networks import LESSON_NETWORKS, BnLayer, LessonNetwork, ResnetLayer
from camserve.models.graphs import export
from camserve.models.inference.cam import weighted_cam
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, ModelMetadata
from camserve.models.network import architectures, build_network
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.packages import torch_not_installed

# The last feature map at 32 px: ConvNet's unpadded convolutions 32-15-7-3; ConvNet2's padded ones 16-8-4;
# the BnLayer nets halve 32 four times; Resnet2's 7x7 stem with padding 1 gives 28, then 14-7-4-2.
MAP_SIDES = {
    "lesson7-convnet": 3,
    "lesson7-convnet2": 4,
    "lesson7-convbnnet": 2,
    "lesson7-convbnnet2": 2,
    "lesson7-resnet": 2,
    "lesson7-resnet2": 2,
}


def built(architecture: str) -> LessonNetwork:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = build_network(architecture, 10)
    assert isinstance(network, LessonNetwork)
    return network


def trained_statistics(network: LessonNetwork) -> LessonNetwork:
    """One training-mode forward, so every BnLayer holds batch statistics as it would after training."""
    network.train()
    with torch.no_grad():
        network(torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    return network.eval()


def test_every_lesson_network_is_registered_by_name() -> None:
    assert set(LESSON_NETWORKS) <= set(architectures())


@pytest.mark.parametrize("architecture", sorted(LESSON_NETWORKS))
def test_log_probabilities_and_map_shapes(architecture: str) -> None:
    network = trained_statistics(built(architecture))
    with torch.inference_mode():
        log_probs, maps = network.forward_with_maps(torch.randn(3, 3, 32, 32))
        plain = network(torch.zeros(1, 3, 32, 32))
    side = MAP_SIDES[architecture]
    assert log_probs.shape == (3, 10)
    assert maps.shape == (3, 10, side, side)
    assert plain.shape == (1, 10)
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(3))
    assert bool((log_probs <= 0).all())


def parameters(architecture: str) -> int:
    return sum(p.numel() for p in built(architecture).parameters())


def test_parameter_counts_match_the_notebooks_summaries() -> None:
    """The notebook's ``learn.summary()``: ConvNet and ConvNet2 560 + 7,240 + 28,880 + 810; ConvBnNet's
    convolutions and linear layer 760 + 1,800 + 7,200 + 28,800 + 115,200 + 1,610 (its summary leaves out the
    BnLayers' own a and m, 2 x (20 + 40 + 80 + 160))."""
    assert parameters("lesson7-convnet") == 37_490
    assert parameters("lesson7-convnet2") == 37_490
    assert parameters("lesson7-convbnnet") == 155_370 + 600


def test_resnet2_widths_stem_and_dropout() -> None:
    network = built("lesson7-resnet2")
    assert isinstance(network.conv1, BnLayer)
    assert network.conv1.conv.kernel_size == (7, 7)
    assert network.out.in_features == 256
    assert isinstance(network.drop, torch.nn.Dropout) and network.drop.p == 0.2
    assert [layer.conv.out_channels for layer in network.layers] == [32, 64, 128, 256]
    assert all(isinstance(layer, ResnetLayer) for layer in [*network.layers2, *network.layers3])


def test_bn_layer_normalises_by_the_batch_in_training_and_by_the_last_batch_in_evaluation() -> None:
    layer = BnLayer(3, 4, stride=1)
    first, second = torch.randn(8, 3, 6, 6), torch.randn(8, 3, 6, 6) * 3 + 1
    with torch.no_grad():
        trained = layer.train()(first)
        activations = functional.relu(layer.conv(first))
        evaluated = layer.eval()(second)
        expected = (functional.relu(layer.conv(second)) - activations.mean(dim=(0, 2, 3)).view(-1, 1, 1)) / (
            activations.std(dim=(0, 2, 3)).view(-1, 1, 1)
        )
    # a = 0 and m = 1 at the start: each channel of the training output has mean 0 and std 1.
    torch.testing.assert_close(trained.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(trained.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(evaluated, expected)
    assert {"means", "stds", "a", "m", "conv.weight"} <= set(layer.state_dict())


def test_resnet_layer_adds_its_input() -> None:
    layer = ResnetLayer(4, 4, 1).eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x + BnLayer.forward(layer, x))


@pytest.mark.parametrize("architecture", sorted(LESSON_NETWORKS))
def test_class_maps_are_the_linear_head_at_every_cell(architecture: str) -> None:
    """map_c(i, j) = W_c . f(i, j) + b_c. So the mean of a map is exactly the logit an average-pooling head
    would give; the lesson's max pooling gives W_c . max_ij f + b_c instead."""
    network = trained_statistics(built(architecture))
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        features = network.features(images)
        log_probs, maps = network.forward_with_maps(images)
    weight, bias = network.out.weight, network.out.bias
    torch.testing.assert_close(maps, torch.einsum("ck,nkhw->nchw", weight, features) + bias[:, None, None])
    torch.testing.assert_close(maps.mean(dim=(2, 3)), features.mean(dim=(2, 3)) @ weight.T + bias)
    max_logits = features.amax(dim=(2, 3)) @ weight.T + bias
    torch.testing.assert_close(log_probs, functional.log_softmax(max_logits, dim=1))


def test_at_one_cell_the_map_is_the_logit() -> None:
    """With a 1x1 last feature map (16 px into ConvBnNet) max pooling takes the one cell: map == logit."""
    network = trained_statistics(built("lesson7-convbnnet"))
    with torch.inference_mode():
        log_probs, maps = network.forward_with_maps(torch.randn(4, 3, 16, 16))
    assert maps.shape[2:] == (1, 1)
    torch.testing.assert_close(log_probs, functional.log_softmax(maps[:, :, 0, 0], dim=1))


def test_checkpoint_round_trip_by_name(tmp_path: Path) -> None:
    path = tmp_path / "resnet2.safetensors"
    network = trained_statistics(built("lesson7-resnet2"))
    metadata = ModelMetadata(
        name="cifar", version="test", architecture="lesson7-resnet2", class_names=tuple("abcdefghij"), input_size=32
    )
    save_checkpoint(network, metadata, path, torch.float32)
    loaded, loaded_metadata = load_checkpoint(path)
    assert loaded_metadata == metadata
    assert type(loaded) is type(network)
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        for ours, theirs in zip(network.forward_with_maps(images), loaded.forward_with_maps(images), strict=True):
            torch.testing.assert_close(ours, theirs)


def test_the_torch_runtime_serves_the_lesson_maps_without_leaving_hooks() -> None:
    """The same hook path as resnet34-CAM: the runtime's class maps are forward_with_maps's, and the CAM
    maths takes them as they are."""
    network = trained_statistics(built("lesson7-convnet2"))
    metadata = ModelMetadata(
        name="cifar", version="test", architecture="lesson7-convnet2", class_names=tuple("abcdefghij"), input_size=32
    )
    predictor = TorchPredictor(network, metadata, torch.device("cpu"), "fp32")
    batch = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    predictions = predictor.predict(batch)
    with torch.inference_mode():
        log_probs, maps = network.forward_with_maps(torch.from_numpy(batch))
    for prediction, probs, cell_maps in zip(predictions, log_probs.exp(), maps, strict=True):
        np.testing.assert_allclose(prediction.probabilities, probs.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(prediction.class_maps, cell_maps.numpy(), rtol=1e-4, atol=1e-5)
        assert weighted_cam(prediction.class_maps, prediction.probabilities).shape == (4, 4)
    assert predictor.hook_count == 0


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_graph_runtimes_serve_the_same_probabilities_and_maps(tmp_path: Path, runtime: str) -> None:
    """The export's second output is the same linear-head map, so graph runtimes serve these networks too."""
    network = trained_statistics(built("lesson7-convbnnet"))
    metadata = ModelMetadata(
        name="cifar", version="test", architecture="lesson7-convbnnet", class_names=tuple("abcdefghij"), input_size=32
    )
    save_checkpoint(network, metadata, tmp_path / "convbnnet.safetensors", torch.float32)
    request = RuntimeRequest(tmp_path / "convbnnet.safetensors", "cpu", "fp32", cache_dir=tmp_path / "onnx")
    predictor = load_predictor(runtime, request)
    batch = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        log_probs, maps = network.forward_with_maps(torch.from_numpy(batch))
    for prediction, probs, cell_maps in zip(predictor.predict(batch), log_probs.exp(), maps, strict=True):
        np.testing.assert_allclose(prediction.probabilities, probs.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(prediction.class_maps, cell_maps.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_the_shipped_export_is_of_the_shipped_weights_and_answers_as_they_do(
    tmp_path: Path, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """weights/ ships the CIFAR-10 model's export for environments without torch (make serve). Served as there
    (torch's version unknown, an empty cache), it is found by the weights' digest and answers as the checkpoint
    does in PyTorch."""
    network, metadata = load_checkpoint(SHIPPED_CIFAR_WEIGHTS)
    monkeypatch.setattr(export, "version", torch_not_installed)
    request = RuntimeRequest(SHIPPED_CIFAR_WEIGHTS, "cpu", "fp32", cache_dir=tmp_path)
    predictor = load_predictor(runtime, request)
    batch = np.random.default_rng(0).standard_normal((2, 3, metadata.input_size, metadata.input_size))
    batch = batch.astype(np.float32)
    with torch.inference_mode():
        log_probs, maps = network.eval().forward_with_maps(torch.from_numpy(batch))
    for prediction, probs, cell_maps in zip(predictor.predict(batch), log_probs.exp(), maps, strict=True):
        np.testing.assert_allclose(prediction.probabilities, probs.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(prediction.class_maps, cell_maps.numpy(), rtol=1e-4, atol=1e-4)
    assert not list(tmp_path.iterdir())  # nothing exported: the shipped file served
