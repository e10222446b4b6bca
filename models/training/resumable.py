"""The part of a training run that survives a kill, shared by ``camserve train`` and ``camserve cifar train``.

A run directory holds ``state.pt`` (the config, every component's state, epochs done, wall time and the
training precision; rewritten atomically after each epoch), ``history.jsonl`` (one line per epoch) and
``history.png`` (its plot). Rerunning with the same settings carries on after the last saved epoch as if
never stopped; other settings are refused, so one directory holds one recipe and its log.
"""

import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from camserve.models.files import atomic_write
from camserve.models.selection.devices import DeviceChoice, Precision, resolve_device
from camserve.models.training.history import (
    append_epoch,
    plot_history,
    read_history,
    require_plotting,
    truncate_history,
)

STATE_FILE = "state.pt"
HISTORY_FILE = "history.jsonl"
PLOT_FILE = "history.png"


class Stateful(Protocol):
    """What a run saves and restores: networks, optimisers, schedulers, gradient scalers, weight averages."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> object: ...


class ResumableRun:
    """One run directory: its saved state checked against the config, resumed into the trainer's components,
    and after each epoch the history line, the new state and the plot, in the order that makes a kill safe."""

    def __init__(
        self,
        directory: Path,
        config: dict[str, Any],
        resumable_changes: frozenset[str],
        device: DeviceChoice,
        epochs: int,
    ) -> None:
        """Reads and checks the saved state at once, so a mismatch fails before any data is decoded.
        ``resumable_changes`` names the config entries a resumed run may change (paths, versions)."""
        require_plotting()
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.config = config
        self.epochs = epochs
        self.device = resolve_device(device)
        # A run trains on a few input sizes only, so cuDNN's one-off search for the fastest kernels pays off.
        torch.backends.cudnn.benchmark = self.device.type == "cuda"
        self.saved = self._load_state(resumable_changes)
        self.epochs_done = 0
        self.elapsed_s = 0.0
        self.precision: Precision = "fp32"
        self.components: Mapping[str, Stateful] = {}

    @property
    def history_path(self) -> Path:
        return self.directory / HISTORY_FILE

    def _load_state(self, resumable_changes: frozenset[str]) -> dict[str, Any] | None:
        path = self.directory / STATE_FILE
        if not path.is_file():
            return None
        state: dict[str, Any] = torch.load(path, map_location=self.device, weights_only=True)
        changed = sorted(
            key
            for key, value in self.config.items()
            if key not in resumable_changes and state["config"].get(key) != value
        )
        if changed:
            raise ValueError(
                f"{self.directory} holds a run with different settings ({', '.join(changed)}); "
                "use a new --run-dir, or the same settings to resume"
            )
        return state

    def resume(self, components: Mapping[str, Stateful], precision: Precision) -> None:
        """Load the saved state, if any, into ``components`` (saved under the same names), and cut the history
        back to the saved epochs: a kill between a history line and its state must not log an epoch twice."""
        self.components = components
        self.precision = precision
        if self.saved is not None:
            for name, component in components.items():
                component.load_state_dict(self.saved[name])
            self.epochs_done = self.saved["epochs_done"]
            self.elapsed_s = self.saved["elapsed_s"]
            print(f"resuming {self.directory} after epoch {self.epochs_done}/{self.epochs}", file=sys.stderr)
        truncate_history(self.history_path, self.epochs_done)

    def epochs_left(self) -> range:
        """The 1-based numbers of the epochs still to train."""
        return range(self.epochs_done + 1, self.epochs + 1)

    def clock(self, started: float) -> dict[str, float]:
        """Add the epoch begun at ``started`` (``time.perf_counter``) to the run's wall time; both, for the log."""
        epoch_s = time.perf_counter() - started
        self.elapsed_s += epoch_s
        return {"epoch_s": round(epoch_s, 1), "elapsed_s": round(self.elapsed_s, 1)}

    def end_epoch(self, record: dict[str, Any], values: Mapping[str, object]) -> None:
        """Log the epoch ``record`` (its number under ``"epoch"``), then save the state that holds it (with the
        trainer's own ``values``, e.g. the best score so far), then redraw the plot."""
        append_epoch(self.history_path, record)
        self.epochs_done = record["epoch"]
        self.save_state(values)
        plot_history(read_history(self.history_path), self.directory / PLOT_FILE)

    def save_state(self, values: Mapping[str, object]) -> None:
        state = {
            "config": self.config,
            **{name: component.state_dict() for name, component in self.components.items()},
            "epochs_done": self.epochs_done,
            "elapsed_s": self.elapsed_s,
            "precision": self.precision,
            **values,
        }
        with atomic_write(self.directory / STATE_FILE) as staged:
            torch.save(state, staged)


def hardware(device: torch.device) -> str:
    """The machine a run trained on, as its checkpoint records it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
