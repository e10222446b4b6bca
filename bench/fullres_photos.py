"""Full-resolution stand-ins for the validation photos, to test the service's path on large, non-square input.

The catsdogs photos are 200x200, squashed from their originals. This script stretches each validation photo
back to a common camera aspect ratio (4:3, 3:4, 16:9, 9:16, 3:2 or 1:1) at 1600 to 4000 px on the long side,
and stores a quarter of them sideways with an EXIF orientation tag (6 or 8) that turns them upright, as
phones do. The upscaled pixels hold no new detail; what this exercises is the decode (reduced-size JPEG
decoding, EXIF, any aspect) and resize path. The files are research-only data: keep them out of the repo.

    python -m bench.fullres_photos --data ../shared/data/catsdogs --out runs/fullres --count 500
    camserve evaluate --data runs/fullres
"""

import argparse
import io
import random
from pathlib import Path

from PIL import Image

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.inference.decode import EXIF_ORIENTATION_TAG, decode_photo
from camserve.models.metadata import load_metadata
from camserve.service.settings import Settings

ASPECTS = ((4, 3), (3, 4), (16, 9), (9, 16), (3, 2), (1, 1))
LONG_SIDES = (1600, 2400, 4000)
# Orientation N says "rotate the stored pixels this way to show them upright"; store them turned the other way.
STORED_SIDEWAYS = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def full_resolution_jpeg(photo: Image.Image, rng: random.Random) -> bytes:
    aspect_w, aspect_h = rng.choice(ASPECTS)
    long_side = rng.choice(LONG_SIDES)
    scale = long_side / max(aspect_w, aspect_h)
    upright = photo.resize((round(aspect_w * scale), round(aspect_h * scale)), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    if rng.random() < 0.25:
        orientation = rng.choice(sorted(STORED_SIDEWAYS))
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        upright.transpose(STORED_SIDEWAYS[orientation]).save(buffer, "JPEG", quality=90, exif=exif)
    else:
        upright.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fullres_photos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the training image folder")
    parser.add_argument("--out", type=Path, required=True, help="where to write <class>/<name>.jpg")
    parser.add_argument("--weights", type=Path, help="checkpoint whose val split to use (default: the served one)")
    parser.add_argument("--count", type=int, default=500, help="how many validation photos, drawn at random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = Settings()
    metadata = load_metadata(args.weights or settings.weights_path)
    folder = scan_image_folder(args.data, metadata.class_names)
    val = validation_indices(folder, metadata.extra)
    rng = random.Random(args.seed)
    chosen = sorted(rng.sample(val, min(args.count, len(val))))
    for index in chosen:
        target = args.out / folder.relative(index)
        target.parent.mkdir(parents=True, exist_ok=True)
        photo = decode_photo(folder.files[index].read_bytes(), settings.max_pixels).image
        target.with_suffix(".jpg").write_bytes(full_resolution_jpeg(photo, rng))
    print(f"wrote {len(chosen)} photos under {args.out}")


if __name__ == "__main__":
    main()
