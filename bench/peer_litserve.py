"""The peer camserve is measured against: the same model served by LitServe 0.2.19, in one of two runtimes.

Written the way a user would write it from LitServe's own examples, not tuned for this benchmark. Either
handler answers JSON with the label, the probabilities and the CAM (the probability-weighted sum of the
ReLU'd class maps, min-max normalised, as camserve computes it: models/inference/cam.py), so both do the
work camserve does for ``POST /predictions``. Both decode the upload with PIL (EXIF orientation, RGB) at
full size and squash the whole photo to the checkpoint's input size, no crop, with its mean and std (see
models/inference/preprocess.py); both batch up to 8 photos, as camserve does by default.

- ``torch``: ``setup`` loads the network with the project's checkpoint loader; ``decode_request`` applies
  torchvision's resize and normalisation; ``predict`` forwards under ``torch.inference_mode()``, in bf16
  autocast or fp32 as the caller chooses.
- ``openvino-int8``: the shipped int8 graph camserve serves (the one the accuracy gate passed), compiled
  with camserve's own CPU settings, so the graph runs exactly as in camserve and a comparison with camserve
  separates what the runtime gives from what camserve's serving layer gives. ``decode_request`` prepares
  the input in numpy as camserve does, but from the full-size decode (a user would not know about PIL's
  reduced-size JPEG decoding); ``predict`` runs one infer request per batch and applies the checkpoint's
  temperature, as camserve reports probabilities.

bench/serving.py starts it as a subprocess. Run on its own from the repository root, in the project's venv::

    python -m bench.peer_litserve --port 8001 --runtime torch --precision fp32
    python -m bench.peer_litserve --port 8001 --runtime openvino-int8
    curl -F file=@tests/chelsea.png http://127.0.0.1:8001/predict
"""

import argparse
from pathlib import Path
from typing import Any

import litserve as ls
import numpy as np
import openvino
import torch
from PIL import Image, ImageOps
from torchvision import transforms

from camserve.models.checkpoint import load_checkpoint
from camserve.models.graphs.export import INPUT_NAME, OUTPUT_NAMES
from camserve.models.inference.cam import normalise, weighted_cam
from camserve.models.inference.predictor import calibrated_probabilities
from camserve.models.inference.preprocess import to_model_input
from camserve.models.metadata import SHIPPED_WEIGHTS, load_metadata
from camserve.models.runtimes.openvino import compile_for_cpu, gated_int8
from camserve.models.selection.hardware import usable_cores

MAX_BATCH_SIZE = 8  # camserve's default CAMSERVE_BATCH_MAX_SIZE
BATCH_TIMEOUT_S = 0.005  # a short wait for a batch to fill, as camserve's default 2 ms
PRECISIONS = ("fp32", "bf16")
RUNTIMES = ("torch", "openvino-int8")


def open_upload(request: Any) -> Image.Image:
    """The multipart field ``file`` as an upright RGB photo, decoded at full size."""
    return ImageOps.exif_transpose(Image.open(request["file"].file)).convert("RGB")


def answer(class_names: tuple[str, ...], probabilities: np.ndarray, class_maps: np.ndarray) -> dict[str, Any]:
    """What either handler answers for one photo: the label, the probabilities by class, and the CAM."""
    return {
        "label": class_names[int(probabilities.argmax())],
        "probabilities": dict(zip(class_names, probabilities.tolist(), strict=True)),
        "cam": normalise(weighted_cam(class_maps, probabilities)).tolist(),
    }


class CamAPI(ls.LitAPI):  # type: ignore[misc]  # LitServe ships no type information
    """torch: one photo per request in (multipart field ``file``); label, probabilities and CAM out."""

    def __init__(self, weights_path: Path, precision: str) -> None:
        super().__init__(max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S)
        self.weights_path = weights_path
        self.precision = precision

    def setup(self, device: str) -> None:
        self.network, self.metadata = load_checkpoint(self.weights_path)
        self.torch_device = torch.device(device)  # LitServe keeps ``device`` itself, as a string
        self.network.to(self.torch_device)
        size = self.metadata.input_size
        self.transform = transforms.Compose(
            [
                transforms.Resize((size, size)),
                transforms.ToTensor(),
                transforms.Normalize(self.metadata.mean, self.metadata.std),
            ]
        )

    def decode_request(self, request) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """``request`` is the parsed multipart form. Left unannotated: LitServe reads this annotation as the
        endpoint's request model, and none means the raw request with its form parsed."""
        pixels: torch.Tensor = self.transform(open_upload(request))
        return pixels

    def predict(self, batch: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """LitServe stacks the decoded photos into ``batch``; one dict per photo back, for its default unbatch."""
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=bf16):
            log_probs, maps = self.network.forward_with_maps(batch.to(self.torch_device))
        probabilities = log_probs.float().exp().cpu()
        return [{"probabilities": p, "class_maps": m} for p, m in zip(probabilities, maps.float().cpu(), strict=True)]

    def encode_response(self, output: dict[str, torch.Tensor]) -> dict[str, Any]:
        return answer(self.metadata.class_names, output["probabilities"].numpy(), output["class_maps"].numpy())


class OpenVinoInt8CamAPI(ls.LitAPI):  # type: ignore[misc]  # LitServe ships no type information
    """openvino-int8: the same requests and answers as ``CamAPI``, from the int8 graph camserve serves."""

    def __init__(self, weights_path: Path) -> None:
        super().__init__(max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S)
        self.weights_path = weights_path

    def setup(self, device: str) -> None:
        """``device`` is always the CPU here: the graph is compiled for OpenVINO's CPU plugin."""
        self.metadata = load_metadata(self.weights_path)
        compiled = compile_for_cpu(openvino.Core(), gated_int8(self.weights_path), "int8", usable_cores())
        self.infer_request = compiled.create_infer_request()
        self.outputs = [compiled.output(name) for name in OUTPUT_NAMES]

    def decode_request(self, request) -> np.ndarray:  # type: ignore[no-untyped-def]
        """``request`` is the parsed multipart form; left unannotated for LitServe, as in ``CamAPI``."""
        return to_model_input(open_upload(request), self.metadata)

    def predict(self, batch: np.ndarray) -> list[dict[str, np.ndarray]]:
        """LitServe stacks the decoded photos into ``batch``; one infer request runs them all."""
        results = self.infer_request.infer({INPUT_NAME: batch})
        log_probs, maps = (np.asarray(results[output], dtype=np.float32) for output in self.outputs)
        probabilities = calibrated_probabilities(log_probs, self.metadata.temperature)
        return [{"probabilities": p, "class_maps": m} for p, m in zip(probabilities, maps, strict=True)]

    def encode_response(self, output: dict[str, np.ndarray]) -> dict[str, Any]:
        return answer(self.metadata.class_names, output["probabilities"], output["class_maps"])


def handler(runtime: str, weights_path: Path, precision: str) -> ls.LitAPI:
    """The handler for ``--runtime``; ``precision`` is torch's alone (the int8 graph has its own)."""
    if runtime == "openvino-int8":
        return OpenVinoInt8CamAPI(weights_path)
    return CamAPI(weights_path, precision)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_litserve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--runtime", choices=RUNTIMES, default="torch", help="torch, or the shipped int8 graph")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="torch autocast precision")
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="safetensors checkpoint")
    args = parser.parse_args()
    server = ls.LitServer(handler(args.runtime, args.weights, args.precision), accelerator="cpu")
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
