"""The PyTorch runtime: batch results equal single results, bf16 agrees with fp32, and the scoped forward
hook that captures the class maps never piles up across requests nor leaks features between them."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from camserve.models.runtimes.torch import TorchPredictor, capture_output


def test_batch_equals_one_at_a_time(served_predictor: TorchPredictor) -> None:
    size = served_predictor.metadata.input_size
    batch = np.random.default_rng(1).standard_normal((3, 3, size, size), dtype=np.float32)
    together = served_predictor.predict(batch)
    for index, result in enumerate(together):
        (alone,) = served_predictor.predict(batch[index : index + 1])
        np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.class_maps, alone.class_maps, rtol=1e-4, atol=1e-5)
        side = math.ceil(size / 32)  # resnet34 halves the size five times, rounding up
        assert result.class_maps.shape == (2, side, side)
        assert result.class_maps.dtype == np.float32


def test_hooks_do_not_accumulate(served_predictor: TorchPredictor) -> None:
    assert served_predictor.hook_count == 0
    for _ in range(5):
        served_predictor.predict(np.zeros((1, 3, 224, 224), dtype=np.float32))
    assert served_predictor.hook_count == 0
    assert len(served_predictor.model.class_maps._forward_hooks) == 0


def test_bad_batch_shape_is_refused(served_predictor: TorchPredictor) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        served_predictor.predict(np.zeros((3, 224, 224), dtype=np.float32))


def test_bf16_matches_fp32_labels(red_patch_predictor: TorchPredictor) -> None:
    """bf16 autocast is a serving option; on the hand-built model it must give the same answers."""
    bf16 = TorchPredictor(red_patch_predictor.model, red_patch_predictor.metadata, torch.device("cpu"), "bf16")
    batch = np.random.default_rng(2).random((4, 3, 64, 64), dtype=np.float32)
    for a, b in zip(red_patch_predictor.predict(batch), bf16.predict(batch), strict=True):
        assert a.label_index() == b.label_index()
        np.testing.assert_allclose(a.class_maps, b.class_maps, atol=0.05)


@pytest.fixture
def layer() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def test_capture_records_one_detached_output_per_forward(layer: nn.Module) -> None:
    inputs = torch.randn(4, 3, requires_grad=True)
    with capture_output(layer) as outputs:
        assert outputs == []
        first = layer(inputs)
        assert len(outputs) == 1
        layer(inputs * 2)
        assert len(outputs) == 2
    assert torch.equal(outputs[0], first.detach())
    assert not outputs[0].requires_grad
    assert torch.equal(outputs[1], layer(inputs * 2).detach())


def test_capture_removes_its_hook_on_exit(layer: nn.Module) -> None:
    with capture_output(layer) as outputs:
        assert len(layer._forward_hooks) == 1
        layer(torch.randn(1, 3))
    assert len(layer._forward_hooks) == 0
    layer(torch.randn(1, 3))
    assert len(outputs) == 1  # forwards after the block are not recorded


def test_capture_removes_its_hook_on_exception(layer: nn.Module) -> None:
    with pytest.raises(RuntimeError, match="boom"), capture_output(layer):
        layer(torch.randn(1, 3))
        raise RuntimeError("boom")
    assert len(layer._forward_hooks) == 0


def test_sequential_captures_do_not_share_outputs(layer: nn.Module) -> None:
    first_input, second_input = torch.randn(1, 3), torch.randn(1, 3)
    with capture_output(layer) as first:
        layer(first_input)
    with capture_output(layer) as second:
        layer(second_input)
    assert first is not second
    assert len(first) == len(second) == 1
    assert torch.equal(second[0], layer(second_input).detach())
    assert len(layer._forward_hooks) == 0


def test_nested_captures_each_see_their_own_forwards(layer: nn.Module) -> None:
    with capture_output(layer) as outer:
        layer(torch.randn(1, 3))
        with capture_output(layer) as inner:
            layer(torch.randn(1, 3))
        assert len(layer._forward_hooks) == 1  # only the outer hook is left
        layer(torch.randn(1, 3))
    assert outer is not inner
    assert len(outer) == 3
    assert len(inner) == 1
    assert torch.equal(inner[0], outer[1])
    assert len(layer._forward_hooks) == 0


def test_capture_on_a_submodule_sees_its_output_inside_a_larger_model() -> None:
    """In the service the hook sits on the class-map conv inside the network, not on the whole model."""
    torch.manual_seed(0)
    inner = nn.Linear(3, 4)
    model = nn.Sequential(inner, nn.ReLU(), nn.Linear(4, 2))
    inputs = torch.randn(2, 3)
    with capture_output(inner) as outputs:
        model(inputs)
    assert len(outputs) == 1
    assert outputs[0].shape == (2, 4)
    assert torch.equal(outputs[0], inner(inputs).detach())
