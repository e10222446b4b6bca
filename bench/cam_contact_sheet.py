"""A contact sheet of CAM overlays for validation photos, to check by eye that the heatmaps sit on the animal.

Each tile is the service's own overlay (same decode, preprocessing, CAM, upsampling and colormap), with a
white cross on the heatmap's peak and a caption: predicted label, its probability, and the true label
(red when wrong). Write it outside the repository: the photos are research-only data.

    python -m bench.cam_contact_sheet --data ../shared/data/catsdogs --out runs/cam-contact-sheet.png
"""

import argparse
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.inference.cam import upsample
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes import load_predictor
from camserve.service.render import Colormap, Picture, RenderRequest, render, select_cam
from camserve.service.settings import Settings

TILE = 200
CAPTION = 16
COLUMNS = 10


def tile(photo_bytes: bytes, caption: str, wrong: bool, prediction: Prediction, max_pixels: int) -> Image.Image:
    """The service's overlay shrunk to a tile, with a cross on the CAM's peak drawn at tile scale."""
    request = RenderRequest(Picture.overlay, 0.5, Colormap.jet, None)
    png = render(photo_bytes, prediction.class_maps, prediction.probabilities, request, max_pixels, 1)
    overlay = Image.open(io.BytesIO(png)).convert("RGB").resize((TILE, TILE))
    cam = upsample(select_cam(prediction.class_maps, prediction.probabilities, None), TILE, TILE)
    peak_y, peak_x = (int(index) for index in np.unravel_index(int(np.argmax(cam)), cam.shape))
    draw = ImageDraw.Draw(overlay)
    draw.line([(peak_x - 8, peak_y), (peak_x + 8, peak_y)], fill="white", width=3)
    draw.line([(peak_x, peak_y - 8), (peak_x, peak_y + 8)], fill="white", width=3)
    framed = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    framed.paste(overlay, (0, CAPTION))
    ImageDraw.Draw(framed).text((3, 2), caption, fill="red" if wrong else "black")
    return framed


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cam_contact_sheet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="the training image folder")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write (outside the repository)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = Settings()
    predictor = load_predictor(settings.backend, settings.runtime_request())
    names = predictor.metadata.class_names
    folder = scan_image_folder(args.data, names)
    val = validation_indices(folder, predictor.metadata.extra)
    chosen = random.Random(args.seed).sample(val, min(args.count, len(val)))
    tiles, wrong_count = [], 0
    for index in chosen:
        data = folder.files[index].read_bytes()
        (prediction,) = predictor.predict(prepare(data, predictor.metadata, settings.max_pixels).pixels[None])
        label, truth = prediction.label_index(), folder.labels[index]
        wrong_count += label != truth
        caption = f"{names[label]} {prediction.probabilities[label]:.0%} (true: {names[truth]})"
        tiles.append(tile(data, caption, label != truth, prediction, settings.max_pixels))
    rows = -(-len(tiles) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + CAPTION)), "white")
    for position, picture in enumerate(tiles):
        sheet.paste(picture, ((position % COLUMNS) * TILE, (position // COLUMNS) * (TILE + CAPTION)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}: {len(tiles)} photos, {wrong_count} misclassified (captions in red)")


if __name__ == "__main__":
    main()
