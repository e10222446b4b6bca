"""The training log: one JSON line per epoch, and a plot of loss and accuracy drawn from it."""

import json
from pathlib import Path
from typing import Any

from camserve.models.files import atomic_write


def append_epoch(log_path: Path, record: dict[str, Any]) -> None:
    with log_path.open("a") as log:
        log.write(json.dumps(record) + "\n")


def read_history(log_path: Path) -> list[dict[str, Any]]:
    """Every complete line; a last line cut short by a kill is skipped, not fatal."""
    if not log_path.is_file():
        return []
    records = []
    for line in log_path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_history(log_path: Path, epochs: int) -> None:
    """Keep only the epochs the saved state holds: a kill between the log line and the state file, or a
    run directory whose state was deleted, must not leave the same epoch twice."""
    kept = [record for record in read_history(log_path) if record["epoch"] <= epochs]
    with atomic_write(log_path) as staged:
        staged.write_text("".join(json.dumps(record) + "\n" for record in kept))


def require_plotting() -> None:
    """Fail before training starts, not after the first epoch, when the plot cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise RuntimeError("camserve train draws its curves with matplotlib: pip install -e '.[train]'") from error


def plot_history(history: list[dict[str, Any]], png_path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    epochs = [record["epoch"] for record in history]
    figure, (loss_axes, accuracy_axes) = pyplot.subplots(1, 2, figsize=(10, 4))
    loss_axes.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (augmented, total loss)")
    loss_axes.plot(epochs, [r["val_log_loss"] for r in history], "o-", label="validation log loss")
    loss_axes.set(xlabel="epoch", ylabel="loss", title="Loss")
    accuracy_axes.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train (augmented)")
    accuracy_axes.plot(epochs, [r["val_accuracy"] for r in history], "o-", label="validation")
    accuracy_axes.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    pyplot.close(figure)
