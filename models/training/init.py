"""Where training starts: random weights, torchvision's ImageNet weights, or an earlier camserve checkpoint."""

from pathlib import Path
from urllib.error import URLError

import torchvision
from torch import nn

from camserve.models.checkpoint import CheckpointError, load_checkpoint
from camserve.models.network import CamNetwork, build_network

SCRATCH = "scratch"
IMAGENET = "imagenet"


class InitUnavailable(RuntimeError):
    """The requested starting weights cannot be had here; the message says what to use instead."""


def initial_network(init: str, architecture: str, class_names: tuple[str, ...]) -> CamNetwork:
    """``init`` is ``scratch``, ``imagenet`` or the path of a camserve checkpoint with the same classes."""
    if init == SCRATCH:
        network = _cam_network(architecture, len(class_names))
        _zero_init_residual_branches(network)
        return network
    if init == IMAGENET:
        try:
            return _cam_network(architecture, len(class_names), pretrained=True)
        except (URLError, OSError, RuntimeError) as error:
            raise InitUnavailable(
                f"could not load torchvision's ImageNet weights for {architecture} ({error}); "
                "this machine probably has no internet access: use --init scratch"
            ) from error
    try:
        loaded, metadata = load_checkpoint(Path(init))
    except CheckpointError as error:
        raise InitUnavailable(f"--init {init}: {error}") from error
    if (
        not isinstance(loaded, CamNetwork)
        or metadata.class_names != class_names
        or metadata.architecture != architecture
    ):
        raise InitUnavailable(
            f"--init {init}: that checkpoint is {metadata.architecture} for {list(metadata.class_names)}, "
            f"this data needs {architecture} for {list(class_names)}"
        )
    return loaded.train()


def _cam_network(architecture: str, num_classes: int, pretrained: bool = False) -> CamNetwork:
    """A body with the class-map head, the only kind this trainer trains; the lesson's CIFAR-10 networks,
    with heads of their own, train with ``camserve cifar``."""
    network = build_network(architecture, num_classes, pretrained)
    if not isinstance(network, CamNetwork):
        raise ValueError(f"{architecture} has a head of its own, not the class-map head: train it with camserve cifar")
    return network


def _zero_init_residual_branches(network: CamNetwork) -> None:
    """Start each residual block as the identity (the last BatchNorm's scale at 0): faster early training."""
    for module in network.body.modules():
        if isinstance(module, torchvision.models.resnet.BasicBlock):
            nn.init.zeros_(module.bn2.weight)
        elif isinstance(module, torchvision.models.resnet.Bottleneck):
            nn.init.zeros_(module.bn3.weight)


def layer_groups(network: CamNetwork) -> list[list[nn.Parameter]]:
    """Early body, late body, head: the lesson's three groups for discriminative learning rates."""
    children = list(network.body.children())
    split = len(children) - 2  # resnet: stem and layer1-2 | layer3-4
    early = [p for child in children[:split] for p in child.parameters()]
    late = [p for child in children[split:] for p in child.parameters()]
    return [early, late, list(network.class_maps.parameters())]


def set_body_trainable(network: CamNetwork, trainable: bool) -> None:
    network.body.requires_grad_(trainable)
