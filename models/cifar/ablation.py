"""The lesson's ablation in one command: every network trained with its own recipe (resuming any run
already under way), scored with and without TTA, and set beside the notebook's figures as Markdown and JSON."""

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from camserve.models.cifar.recipes import LESSON_RESULTS, RECIPES
from camserve.models.cifar.trainer import CifarConfig, CifarTrainer
from camserve.models.files import atomic_write

ALL_NETWORKS = tuple(RECIPES)  # the lesson's order
TABLE_JSON = "table.json"
TABLE_MARKDOWN = "table.md"
JPEG_CAVEAT = (
    "Our figures are on the JPEG (quality 75) copy of CIFAR-10 in ../shared, reported to cost about 2-3 points "
    "of accuracy against the lossless set the lesson used."
)


def run_table(
    template: CifarConfig, out_dir: Path, cache_dir: Path, architectures: Sequence[str]
) -> list[dict[str, Any]]:
    """Train (or resume, or just read) each network's run under ``out_dir/<architecture>``, then write the table."""
    rows = []
    for architecture in architectures:
        config = replace(template, architecture=architecture, run_dir=str(out_dir / architecture))
        rows.append(CifarTrainer(config, cache_dir).run())
    with atomic_write(out_dir / TABLE_JSON) as staged:
        staged.write_text(json.dumps({"rows": rows, "lesson": _lesson_rows(architectures)}, indent=2) + "\n")
    with atomic_write(out_dir / TABLE_MARKDOWN) as staged:
        staged.write_text(format_table(rows))
    return rows


def _lesson_rows(architectures: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {name: vars(LESSON_RESULTS[name]) for name in architectures}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Ours beside the notebook's, one line per network; wall time is training alone (per-epoch scoring on the
    test set included, as in the notebook's %time)."""
    lines = [
        "| network | epochs | parameters | map | wall time | accuracy | log loss | TTA accuracy | TTA log loss "
        "| lesson accuracy | lesson log loss | lesson TTA | lesson wall time |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for row in rows:
        lesson = LESSON_RESULTS[row["architecture"]]
        lesson_tta = "—" if lesson.tta_accuracy is None else f"{lesson.tta_accuracy:.2%}, {lesson.tta_log_loss:.3f}"
        height, width = row["map_size"]
        lines.append(
            f"| {row['architecture']} | {row['epochs']} | {row['parameters']:,} | {height}x{width} "
            f"| {_duration(row['train_wall_s'])} | {row['accuracy']:.2%} | {row['log_loss']:.3f} "
            f"| {row['tta_accuracy']:.2%} | {row['tta_log_loss']:.3f} | {lesson.accuracy:.2%} | {lesson.log_loss:.3f} "
            f"| {lesson_tta} | {_duration(lesson.wall_s)} |"
        )
    first = rows[0] if rows else {}
    setup = (
        f"Device: {first.get('hardware', '?')} ({first.get('device', '?')}, {first.get('precision', '?')}); "
        f"epoch fraction {first.get('epoch_fraction', '?')}, {first.get('test_images', '?')} test images. "
    )
    return "\n".join(lines) + "\n\n" + setup + JPEG_CAVEAT + "\n"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
