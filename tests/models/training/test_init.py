"""Starting weights: scratch is zero-initialised per block, imagenet fails with advice when offline, and a
checkpoint is only accepted for the same classes."""

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn

from camserve.models.checkpoint import load_checkpoint
from camserve.models.network import CamNetwork, build_network
from camserve.models.training import init
from camserve.models.training.init import InitUnavailable, initial_network, layer_groups, set_body_trainable
from tests.support.networks import write_tiny_checkpoint

CLASSES = ("cat", "dog")


@pytest.fixture(scope="module")
def scratch() -> CamNetwork:
    return initial_network("scratch", "resnet34", CLASSES)


def test_scratch_zeroes_the_last_batchnorm_of_every_residual_block(scratch: CamNetwork) -> None:
    """Each block starts as the identity; the other BatchNorms keep their usual scale of one."""
    blocks = [m for m in scratch.body.modules() if isinstance(m, torchvision.models.resnet.BasicBlock)]
    assert len(blocks) == 16  # resnet34: 3 + 4 + 6 + 3
    for block in blocks:
        assert torch.count_nonzero(block.bn2.weight) == 0
        assert torch.all(block.bn1.weight == 1)
    assert torch.all(scratch.body[1].weight == 1)  # the stem's BatchNorm
    assert scratch.class_maps.out_channels == len(CLASSES)


def test_scratch_zeroes_bottleneck_blocks_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deeper resnets use Bottleneck blocks, whose last BatchNorm is bn3."""
    block = torchvision.models.resnet.Bottleneck(8, 2)
    network = CamNetwork(nn.Sequential(block), body_channels=8, num_classes=2)
    monkeypatch.setattr(init, "build_network", lambda *args, **kwargs: network)
    initial_network("scratch", "resnet34", CLASSES)
    assert torch.count_nonzero(block.bn3.weight) == 0
    assert torch.all(block.bn2.weight == 1)


@pytest.mark.parametrize("error", [URLError("no route to host"), OSError("Network is unreachable")])
def test_imagenet_offline_says_to_use_scratch(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Offline machines fail at once with the fix in the message, not after decoding the data set."""
    real_build = build_network

    def offline(architecture: str, num_classes: int, pretrained: bool = False) -> CamNetwork:
        if pretrained:
            raise error
        return real_build(architecture, num_classes)

    monkeypatch.setattr(init, "build_network", offline)
    with pytest.raises(InitUnavailable, match="--init scratch") as raised:
        initial_network("imagenet", "resnet34", CLASSES)
    assert raised.value.__cause__ is error


def test_imagenet_uses_the_pretrained_network_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretrained residual scales must not be zeroed (that would throw ImageNet features away)."""
    calls: list[bool] = []

    def pretrained_build(architecture: str, num_classes: int, pretrained: bool = False) -> CamNetwork:
        calls.append(pretrained)
        network = build_network(architecture, num_classes)
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 0.5)
        return network

    monkeypatch.setattr(init, "build_network", pretrained_build)
    network = initial_network("imagenet", "resnet34", CLASSES)
    assert calls == [True]
    assert all(torch.all(m.weight == 0.5) for m in network.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.fixture
def tiny_resnet_checkpoint(tmp_path: Path, tiny_architecture: str) -> Path:
    return write_tiny_checkpoint(tmp_path / "start.safetensors", CLASSES, architecture=tiny_architecture)


def test_checkpoint_init_continues_from_its_weights(tiny_resnet_checkpoint: Path, tiny_architecture: str) -> None:
    """Fine-tuning an earlier run starts from exactly its weights, in training mode."""
    network = initial_network(str(tiny_resnet_checkpoint), tiny_architecture, CLASSES)
    saved, _ = load_checkpoint(tiny_resnet_checkpoint)
    assert network.training
    for (name, a), (_, b) in zip(network.state_dict().items(), saved.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_checkpoint_init_refuses_other_classes_or_architecture(
    tiny_resnet_checkpoint: Path, tiny_architecture: str
) -> None:
    """A cat/dog checkpoint cannot start a run on other classes (the head would be silently wrong), nor another
    architecture."""
    path = str(tiny_resnet_checkpoint)
    with pytest.raises(InitUnavailable, match=r"\['cat', 'dog'\].*\['ant', 'bee'\]"):
        initial_network(path, tiny_architecture, ("ant", "bee"))
    with pytest.raises(InitUnavailable, match=r"\['cat', 'dog'\].*\['dog', 'cat'\]"):
        initial_network(path, tiny_architecture, ("dog", "cat"))
    with pytest.raises(InitUnavailable, match="this data needs resnet34"):
        initial_network(path, "resnet34", CLASSES)


def test_unknown_init_is_reported_as_a_missing_checkpoint(tmp_path: Path) -> None:
    """A typo such as ``--init imagnet`` is read as a path and must fail clearly, not crash."""
    with pytest.raises(InitUnavailable, match=r"--init imagnet: .*not found"):
        initial_network("imagnet", "resnet34", CLASSES)
    with pytest.raises(InitUnavailable, match="not found"):
        initial_network(str(tmp_path / "gone.safetensors"), "resnet34", CLASSES)


def test_layer_groups_partition_every_parameter(scratch: CamNetwork) -> None:
    """Discriminative learning rates: every parameter in exactly one group, layer3-4 late, class maps last."""
    early, late, head = layer_groups(scratch)
    ids = [id(p) for group in (early, late, head) for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in scratch.parameters()}
    late_ids = {id(p) for p in late}
    body = dict(scratch.body.named_children())
    for name, child in body.items():
        expected_late = name in {"6", "7"}  # layer3, layer4
        assert all((id(p) in late_ids) == expected_late for p in child.parameters()), name
    assert [id(p) for p in head] == [id(p) for p in scratch.class_maps.parameters()]


def test_set_body_trainable_freezes_the_body_only(scratch: CamNetwork) -> None:
    set_body_trainable(scratch, False)
    try:
        assert not any(p.requires_grad for p in scratch.body.parameters())
        assert all(p.requires_grad for p in scratch.class_maps.parameters())
    finally:
        set_body_trainable(scratch, True)
    assert all(p.requires_grad for p in scratch.parameters())


def test_a_network_with_its_own_head_is_refused_with_a_pointer() -> None:
    """The lesson's CIFAR-10 networks have no class-map conv to train here; camserve cifar trains them."""
    with pytest.raises(ValueError, match="train it with camserve cifar"):
        initial_network(init.SCRATCH, "lesson7-resnet2", ("cat", "dog"))
