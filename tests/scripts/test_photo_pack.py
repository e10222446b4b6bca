import io
import tarfile
from pathlib import Path

from PIL import Image

from camserve.models.dataset import Split, scan_image_folder
from scripts.photo_pack import pack, unpack


def test_unpacked_folder_keeps_paths_and_split(image_folder: Path, tmp_path: Path) -> None:
    parts = pack(image_folder, tmp_path / "pack", size=24, quality=80, part_mib=0.002)
    rebuilt = tmp_path / "rebuilt"

    assert len(parts) > 1
    assert unpack(parts, rebuilt) == len(scan_image_folder(image_folder).files)
    original, copy = scan_image_folder(image_folder), scan_image_folder(rebuilt)
    assert [original.relative(i) for i in range(len(original.files))] == [
        copy.relative(i) for i in range(len(copy.files))
    ]
    split = Split(0.25, seed=0)
    assert split.describe(original) == split.describe(copy)
    with Image.open(copy.files[0]) as photo:
        assert (photo.format, photo.size) == ("JPEG", (24, 24))


def test_unpack_never_writes_outside_the_target(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "WEBP")
    payload = buffer.getvalue()
    part = tmp_path / "part1.tar.gz"
    with tarfile.open(part, "w:gz") as archive:
        for name in ("cat/ok.jpg.webp", "../escaped.jpg.webp", "/absolute.jpg.webp"):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))

    assert unpack([part], tmp_path / "out") == 1
    assert (tmp_path / "out" / "cat" / "ok.jpg").is_file()
    assert not (tmp_path / "escaped.jpg").exists()
