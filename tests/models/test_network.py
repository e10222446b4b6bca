"""The network is the lesson's: its log-probabilities are exactly log_softmax of the class maps' means."""

import pytest
import torch

from camserve.models.network import architectures, build_network, register_body
from camserve.models.runtimes.torch import capture_output


def test_resnet34_layout_and_map_shape() -> None:
    network = build_network("resnet34", num_classes=3).eval()
    assert network.class_maps.in_channels == 512
    assert network.class_maps.kernel_size == (3, 3)
    assert network.class_maps.padding == (1, 1)
    with torch.inference_mode(), capture_output(network.class_maps) as captured:
        log_probs = network(torch.randn(2, 3, 224, 224))
    (maps,) = captured
    assert maps.shape == (2, 3, 7, 7)
    assert log_probs.shape == (2, 3)
    # No linear layer: each class's logit is the spatial mean of its map, so the CAM is exact.
    torch.testing.assert_close(log_probs, torch.log_softmax(maps.mean(dim=(2, 3)), dim=1))


def test_forward_with_maps_returns_what_the_hook_captures() -> None:
    """The ONNX export's second output is this; it must be the very tensor the forward hook sees."""
    network = build_network("resnet34", num_classes=2).eval()
    images = torch.randn(2, 3, 96, 96)
    with torch.inference_mode(), capture_output(network.class_maps) as captured:
        log_probs, maps = network.forward_with_maps(images)
    torch.testing.assert_close(maps, captured[0])
    torch.testing.assert_close(log_probs, network(images))


@pytest.mark.parametrize(("architecture", "classes"), [("resnet99", 2), ("resnet34", 1)])
def test_build_network_rejects_bad_requests(architecture: str, classes: int) -> None:
    with pytest.raises(ValueError):
        build_network(architecture, classes)


def test_registered_bodies_build_by_name(tiny_architecture: str) -> None:
    assert {"resnet34", tiny_architecture} <= set(architectures())
    network = build_network(tiny_architecture, num_classes=3)
    assert network.class_maps.out_channels == 3


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_body("resnet34")(lambda pretrained: (torch.nn.Identity(), 3))
