"""The peer camserve is measured against: the same checkpoint served by LitServe 0.2.19 with a plain torch handler.

Written the way a user would write it from LitServe's own examples, not tuned for this benchmark: ``setup``
loads the network with the project's checkpoint loader; ``decode_request`` opens the upload with PIL (EXIF
orientation, RGB) at full size and applies torchvision's resize and normalisation as the model expects
(the whole photo squashed to the checkpoint's input size, no crop, with its mean and std: see
models/inference/preprocess.py); ``predict`` forwards batches of up to 8 under ``torch.inference_mode()``, in bf16
autocast or fp32 as the caller chooses; ``encode_response`` answers JSON with the label, the probabilities
and the class maps. bench/serving.py starts it as a subprocess, choosing the precision torch runs faster here.

Run on its own from the repository root, in the project's venv::

    python -m bench.peer_litserve --port 8001 --precision fp32
    curl -F file=@tests/chelsea.png http://127.0.0.1:8001/predict
"""

import argparse
from pathlib import Path
from typing import Any

import litserve as ls
import torch
from PIL import Image, ImageOps
from torchvision import transforms

from camserve.models.checkpoint import load_checkpoint
from camserve.models.metadata import SHIPPED_WEIGHTS

MAX_BATCH_SIZE = 8  # camserve's default CAMSERVE_BATCH_MAX_SIZE
BATCH_TIMEOUT_S = 0.005  # a short wait for a batch to fill, as camserve's default 2 ms
PRECISIONS = ("fp32", "bf16")


class CamAPI(ls.LitAPI):  # type: ignore[misc]  # LitServe ships no type information
    """One photo per request in (multipart field ``file``); label, probabilities and class maps out."""

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
        photo = ImageOps.exif_transpose(Image.open(request["file"].file)).convert("RGB")
        pixels: torch.Tensor = self.transform(photo)
        return pixels

    def predict(self, batch: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """LitServe stacks the decoded photos into ``batch``; one dict per photo back, for its default unbatch."""
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=bf16):
            log_probs, maps = self.network.forward_with_maps(batch.to(self.torch_device))
        probabilities = log_probs.float().exp().cpu()
        return [{"probabilities": p, "class_maps": m} for p, m in zip(probabilities, maps.float().cpu(), strict=True)]

    def encode_response(self, output: dict[str, torch.Tensor]) -> dict[str, Any]:
        names = self.metadata.class_names
        probabilities = output["probabilities"]
        return {
            "label": names[int(probabilities.argmax())],
            "probabilities": dict(zip(names, probabilities.tolist(), strict=True)),
            "class_maps": output["class_maps"].tolist(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_litserve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="torch autocast precision")
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="safetensors checkpoint")
    args = parser.parse_args()
    server = ls.LitServer(CamAPI(args.weights, args.precision), accelerator="cpu")
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
