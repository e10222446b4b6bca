"""The CAM network as an ONNX graph whose second output is the class maps, cached per checkpoint.

Graph runtimes have no forward hooks, so the export returns the very tensor the PyTorch hook captures, out
of the same run as the probabilities. Exporting takes seconds, so the graph is cached on disk, keyed by the
checkpoint's bytes and the torch version that exported it; torch itself is imported only to export, and a
process without torch serves an export made elsewhere: the container image makes them at build time, and
``weights/`` ships the small CIFAR-10 model's, so ``make serve`` (no torch) serves both models.
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from camserve.models.files import atomic_write, file_sha256
from camserve.models.metadata import CheckpointError

if TYPE_CHECKING:
    from camserve.models.classmap_network import ClassMapNetwork

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "cached_onnx_export",
    "export_onnx",
    "exports_made_elsewhere",
    "onnx_export_name",
]

INPUT_NAME = "images"
OUTPUT_NAMES = ("log_probs", "class_maps")
MAX_BATCH = 1024
MIN_SIDE, MAX_SIDE = 16, 4096


def export_onnx(network: "ClassMapNetwork", input_size: int, path: Path) -> None:
    """Write the network as ONNX, atomically (a crash leaves no half file). Batch, height and width are
    dynamic: the network is fully convolutional, and ``camserve evaluate --input-size`` feeds other sizes."""
    import torch

    class WithMaps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.network.forward_with_maps(images)

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    height, width = (torch.export.Dim(name, min=MIN_SIDE, max=MAX_SIDE) for name in ("height", "width"))
    example = torch.zeros(2, 3, input_size, input_size)
    program = torch.onnx.export(
        WithMaps().eval(),
        (example,),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={INPUT_NAME: {0: batch, 2: height, 3: width}},
        verbose=False,
    )
    assert program is not None  # dynamo=True always returns the program
    with atomic_write(path) as staged:
        program.save(str(staged))


def onnx_export_name(weights_path: Path, exporter: str) -> str:
    """An export's file name: the checkpoint's name, a digest of its bytes, and the torch version that exported
    it (``*`` matches any)."""
    return f"{weights_path.stem}-{file_sha256(weights_path)[:16]}-torch{exporter}.onnx"


def exports_made_elsewhere(weights_path: Path, cache_dir: Path) -> list[Path]:
    """Exports of these very weights in ``cache_dir``, then those shipped beside the weights."""
    pattern = onnx_export_name(weights_path, "*")
    return sorted(Path(cache_dir).glob(pattern)) + sorted(weights_path.parent.glob(pattern))


def cached_onnx_export(weights_path: Path, cache_dir: Path) -> Path:
    """The checkpoint's ONNX graph, exported into ``cache_dir`` first if neither it nor the weights' folder holds
    this torch's export of these weights. Where torch is not installed (``make serve``, the CPU image), any
    export of these very weights is used, from ``cache_dir`` first."""
    weights_path = Path(weights_path)
    try:
        exporter = version("torch")
    except PackageNotFoundError as error:
        made = exports_made_elsewhere(weights_path, cache_dir)
        if made:
            return made[0]
        raise CheckpointError(
            f"{weights_path}: exporting it to ONNX needs torch, which is not installed (the torch extra: "
            f"pip install 'camserve[torch]'), and neither {cache_dir} nor {weights_path.parent} holds an export of "
            "these weights"
        ) from error
    name = onnx_export_name(weights_path, exporter)
    for folder in (Path(cache_dir), weights_path.parent):
        if (folder / name).exists():
            return folder / name
    path = Path(cache_dir) / name
    from camserve.models.checkpoint import load_checkpoint

    network, metadata = load_checkpoint(weights_path)
    export_onnx(network, metadata.input_size, path)
    return path
