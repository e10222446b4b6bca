"""Carry an image folder to a machine that only takes small uploads (a lent GPU), and rebuild it there.

``pack`` squashes every photo to a small WebP and splits the folder into tar parts of a bounded size;
``unpack`` turns the parts back into an image folder with the original relative paths (as JPEG), so the
hash-based train/validation split, which depends only on those paths, is the same on both machines.
"""

import argparse
import hashlib
import io
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from camserve.models.dataset import scan_image_folder

PACKED_SUFFIX = ".webp"


def _encode(task: tuple[Path, int, int]) -> bytes:
    path, size, quality = task
    with Image.open(path) as image:
        small = image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "WEBP", quality=quality)
    return buffer.getvalue()


def pack(data: Path, out: Path, size: int, quality: int, part_mib: float) -> list[Path]:
    """Gzipped tar parts of about ``part_mib`` MiB, each holding ``<relative path>.webp`` entries (gzip removes
    the tar headers' padding, a fifth of the size for photos this small)."""
    folder = scan_image_folder(data)
    # A fixed shuffle, so that every part holds both classes and the first part alone is a usable folder.
    order = sorted(range(len(folder.files)), key=lambda i: hashlib.sha256(folder.relative(i).encode()).digest())
    with ProcessPoolExecutor() as pool:
        tasks = [(folder.files[i], size, quality) for i in order]
        payloads = list(pool.map(_encode, tasks, chunksize=64))
    out.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    for group in _groups_under(payloads, part_mib * 2**20):
        parts.append(out / f"part{len(parts) + 1}.tar.gz")
        with tarfile.open(parts[-1], "w:gz") as archive:
            for index in group:
                info = tarfile.TarInfo(folder.relative(order[index]) + PACKED_SUFFIX)
                info.size = len(payloads[index])
                archive.addfile(info, io.BytesIO(payloads[index]))
    return parts


def _groups_under(payloads: list[bytes], limit: float) -> list[list[int]]:
    """Consecutive indices, cut where a group would pass ``limit`` bytes (a group holds at least one)."""
    groups: list[list[int]] = []
    total = limit
    for index, payload in enumerate(payloads):
        if total + len(payload) > limit and (not groups or groups[-1]):
            groups.append([])
            total = 0
        groups[-1].append(index)
        total += len(payload)
    return groups


def _decode_to_jpeg(task: tuple[bytes, Path]) -> None:
    payload, target = task
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(payload)) as image:
        image.convert("RGB").save(target, "JPEG", quality=95)


def unpack(parts: list[Path], out: Path) -> int:
    """Rebuild the folder under ``out``; returns the number of photos written."""
    tasks = []
    for part in parts:
        with tarfile.open(part) as archive:
            for member in archive.getmembers():
                name = member.name.removesuffix(PACKED_SUFFIX)
                if member.isfile() and not Path(name).is_absolute() and ".." not in Path(name).parts:
                    tasks.append((archive.extractfile(member).read(), out / name))
    with ProcessPoolExecutor() as pool:
        list(pool.map(_decode_to_jpeg, tasks, chunksize=64))
    return len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packer = commands.add_parser("pack")
    packer.add_argument("--data", type=Path, required=True)
    packer.add_argument("--out", type=Path, required=True)
    packer.add_argument("--size", type=int, default=144)
    packer.add_argument("--quality", type=int, default=80)
    packer.add_argument("--part-mib", type=float, default=45.0)
    unpacker = commands.add_parser("unpack")
    unpacker.add_argument("parts", type=Path, nargs="+")
    unpacker.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "pack":
        for part in pack(args.data, args.out, args.size, args.quality, args.part_mib):
            print(f"{part}: {os.path.getsize(part) / 2**20:.1f} MiB")
    else:
        print(f"{unpack(args.parts, args.out)} photos in {args.out}")


if __name__ == "__main__":
    main()
