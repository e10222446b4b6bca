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


@pytest.mark.parametrize(("size", "grid"), [(144, 9), (176, 11)])
def test_os16_maps_are_twice_as_fine(size: int, grid: int) -> None:
    """Output stride 16: the shipped 144 px input gives 9x9 maps (5x5 with resnet34), 176 px gives 11x11."""
    network = build_network("resnet34-os16", num_classes=2).eval()
    with torch.inference_mode():
        log_probs, maps = network.forward_with_maps(torch.randn(1, 3, size, size))
    assert maps.shape == (1, 2, grid, grid)
    torch.testing.assert_close(log_probs, torch.log_softmax(maps.mean(dim=(2, 3)), dim=1))


def test_os16_dilates_the_last_stage_and_the_head_only() -> None:
    network = build_network("resnet34-os16", num_classes=2)
    stride32 = build_network("resnet34", num_classes=2)
    dilated = {name for name, m in network.named_modules() if isinstance(m, torch.nn.Conv2d) and m.dilation != (1, 1)}
    assert dilated == {
        "body.7.0.conv2",
        "body.7.1.conv1",
        "body.7.1.conv2",
        "body.7.2.conv1",
        "body.7.2.conv2",
        "class_maps",
    }
    assert all(m.padding == (2, 2) for n, m in network.named_modules() if n in dilated)
    assert network.body[7][0].conv1.stride == network.body[7][0].downsample[0].stride == (1, 1)
    # Layers before the last stage are untouched: the fine-tune's frozen features rely on it.
    for (name, module), (_, original) in zip(
        network.body[:7].named_modules(), stride32.body[:7].named_modules(), strict=True
    ):
        if isinstance(module, torch.nn.Conv2d):
            assert (module.stride, module.dilation, module.padding) == (
                original.stride,
                original.dilation,
                original.padding,
            ), name


def test_a_stride32_state_dict_loads_into_os16_unchanged() -> None:
    """2.0.0's weights serve the dilated network as they are: same parameter names and shapes."""
    stride32 = build_network("resnet34", num_classes=2).eval()
    network = build_network("resnet34-os16", num_classes=2).eval()
    network.load_state_dict(stride32.state_dict(), strict=True)
    images = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        # Up to the last stage the two compute the same features.
        torch.testing.assert_close(network.body[:7](images), stride32.body[:7](images))
        assert not torch.allclose(network(images), stride32(images))
