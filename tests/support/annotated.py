"""Tiny annotated photo folders for the localization benchmark: white photos with one red rectangle, the
'animal', whose outline and head box the annotations give; the red-patch model's map fires exactly there."""

import json
from pathlib import Path

from tests.support.photos import photo_with_patch

# (file, width, height, patch (left, top, right, bottom)): patches away from the centre, so a centred blob
# misses them and a map that sees them does not.
PATCHES = (
    ("red/corner.png", 128, 96, (8, 8, 40, 40)),
    ("red/side.png", 96, 128, (56, 80, 88, 120)),
    ("red/low.png", 160, 96, (112, 56, 152, 88)),
)


def write_annotated_folder(
    root: Path, patches: tuple[tuple[str, int, int, tuple[int, int, int, int]], ...] = PATCHES
) -> Path:
    """``root`` with the photos (PNG, exact) and ``root/annotations.json``: outline = the patch's corners as
    fractions, head box = the patch itself, inclusive pixels."""
    records = []
    for file, width, height, (left, top, right, bottom) in patches:
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        photo_with_patch(width, height, (left, top, right, bottom)).save(root / file)
        corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
        records.append(
            {
                "file": file,
                "width": width,
                "height": height,
                "outline": [[x / width, y / height] for x, y in corners],
                "head_box": [left, top, right - 1, bottom - 1],
            }
        )
    (root / "annotations.json").write_text(json.dumps({"photos": records}))
    return root
