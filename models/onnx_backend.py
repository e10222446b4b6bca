"""The CAM network exported to ONNX and run by ONNX Runtime: the CPU fp32 path, chosen by measurement.

On these cores ONNX Runtime ran the resnet34-CAM forward 1.7x faster than eager PyTorch at batch 1 and
1.15x at batch 8 and 16 (interleaved, same inputs), with the same answers to 1e-6. ONNX Runtime has no
forward hooks, so the class maps are a second output of the exported graph: the very tensor the hook
captures on the PyTorch path, out of the same run as the probabilities.

Exporting takes seconds, so the graph is cached on disk, keyed by the checkpoint's bytes and the torch
version that exported it.
"""

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

from models.checkpoint import load_checkpoint
from models.metadata import ModelMetadata
from models.network import CamNetwork
from models.predictor import Prediction, check_batch

INPUT_NAME = "images"
OUTPUT_NAMES = ("log_probs", "class_maps")
MAX_BATCH = 1024
MIN_SIDE, MAX_SIDE = 16, 4096


class _WithMaps(nn.Module):
    def __init__(self, network: CamNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network.forward_with_maps(images)


def export_onnx(network: CamNetwork, input_size: int, path: Path) -> None:
    """Write the network as ONNX, atomically (a crash leaves no half file). Batch, height and width are
    dynamic: the network is fully convolutional, and ``camserve evaluate --input-size`` feeds other sizes."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    height, width = (torch.export.Dim(name, min=MIN_SIDE, max=MAX_SIDE) for name in ("height", "width"))
    example = torch.zeros(2, 3, input_size, input_size)
    program = torch.onnx.export(
        _WithMaps(network).eval(),
        (example,),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={INPUT_NAME: {0: batch, 2: height, 3: width}},
        verbose=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        staged = Path(tmp) / path.name
        program.save(str(staged))
        os.replace(staged, path)


def cached_export(weights_path: Path, cache_dir: Path) -> tuple[Path, ModelMetadata]:
    """The checkpoint's ONNX graph from ``cache_dir``, exported first if this checkpoint and torch lack one."""
    network, metadata = load_checkpoint(weights_path)  # first: a missing or bad checkpoint fails in its words
    digest = hashlib.sha256(weights_path.read_bytes())
    digest.update(torch.__version__.encode())
    path = cache_dir / f"{weights_path.stem}-{digest.hexdigest()[:16]}.onnx"
    if not path.exists():
        export_onnx(network, metadata.input_size, path)
    return path, metadata


class OnnxPredictor:
    """Same contract as ``Predictor`` (fp32 on the CPU); ``predict`` is safe to call from any thread."""

    backend = "onnxruntime"
    precision = "fp32"
    device = torch.device("cpu")
    hook_count = 0  # no hooks: the maps are a graph output

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int) -> None:
        self.metadata = metadata
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads that spin steal the cores decoding and HTTP need (and slowed an interleaved PyTorch
        # forward 2x here); sleeping costs little at these forward times.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def predict(self, batch: torch.Tensor) -> list[Prediction]:
        check_batch(batch)
        images = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        with self._lock:  # one forward at a time, as on the PyTorch path: they share the cores
            log_probs, maps = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: images})
        probabilities = np.exp(log_probs.astype(np.float32))
        return [Prediction(p, m.astype(np.float32)) for p, m in zip(probabilities, maps, strict=True)]


def load_onnx_predictor(weights_path: Path, cache_dir: Path) -> OnnxPredictor:
    onnx_path, metadata = cached_export(weights_path, cache_dir)
    return OnnxPredictor(onnx_path, metadata, threads=torch.get_num_threads())
