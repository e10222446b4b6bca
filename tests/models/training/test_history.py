"""The training log survives a kill: appended per epoch, cut back to the saved state, and plotted."""

from pathlib import Path

import pytest
from PIL import Image

from camserve.models.training.history import append_epoch, plot_history, read_history, truncate_history


def record(epoch: int) -> dict[str, float | int]:
    return {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "train_accuracy": 0.5 + 0.1 * epoch,
        "val_log_loss": 0.9 / epoch,
        "val_accuracy": 0.55 + 0.1 * epoch,
    }


def test_append_and_read_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "history.jsonl"
    assert read_history(log) == []
    for epoch in (1, 2, 3):
        append_epoch(log, record(epoch))
    assert read_history(log) == [record(1), record(2), record(3)]
    assert len(log.read_text().splitlines()) == 3


def test_read_skips_blank_lines(tmp_path: Path) -> None:
    log = tmp_path / "history.jsonl"
    append_epoch(log, record(1))
    with log.open("a") as handle:
        handle.write("\n   \n")
    append_epoch(log, record(2))
    assert [r["epoch"] for r in read_history(log)] == [1, 2]


def test_truncate_forgets_epochs_after_the_saved_state(tmp_path: Path) -> None:
    """A kill between the log line and state.pt leaves an epoch the resumed run will log again."""
    log = tmp_path / "history.jsonl"
    for epoch in (1, 2, 3):
        append_epoch(log, record(epoch))
    truncate_history(log, 2)
    assert read_history(log) == [record(1), record(2)]
    append_epoch(log, record(3))
    assert [r["epoch"] for r in read_history(log)] == [1, 2, 3]
    truncate_history(log, 0)
    assert read_history(log) == []


def test_truncate_without_a_log(tmp_path: Path) -> None:
    log = tmp_path / "history.jsonl"
    truncate_history(log, 3)
    assert read_history(log) == []


def test_plot_history_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "history.png"
    plot_history([record(1), record(2)], png)
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 400)
        assert len(image.getcolors(maxcolors=1_000_000) or []) > 2  # something was drawn
