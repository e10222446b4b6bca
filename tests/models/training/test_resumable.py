"""The run directory both trainers share: a rerun with the same settings carries on after the last saved
epoch with every component restored, other settings are refused, and a kill between the log line and the
state never logs an epoch twice. A linear layer and its optimiser stand in for a trainer's components."""

import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from torch import nn

from camserve.models.training.history import read_history
from camserve.models.training.resumable import HISTORY_FILE, PLOT_FILE, STATE_FILE, ResumableRun, Stateful

pytest.importorskip("matplotlib")  # history.png

CONFIG = {"run_dir": "first", "lr": 0.1, "sizes": [32, 48]}
PATHS = frozenset({"run_dir"})


def open_run(directory: Path, config: Mapping[str, object] = CONFIG) -> ResumableRun:
    return ResumableRun(directory, dict(config), PATHS, "cpu", epochs=3)


def components(seed: int) -> dict[str, Stateful]:
    """A network and an optimiser with momentum, so both carry state worth restoring."""
    torch.manual_seed(seed)
    network = nn.Linear(3, 2)
    return {"network": network, "optimiser": torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)}


def train_step(parts: Mapping[str, Stateful]) -> None:
    network, optimiser = parts["network"], parts["optimiser"]
    assert isinstance(network, nn.Module) and isinstance(optimiser, torch.optim.Optimizer)
    optimiser.zero_grad()
    network(torch.ones(4, 3)).sum().backward()
    optimiser.step()


def finish_epoch(run: ResumableRun, epoch: int) -> None:
    """An epoch as a trainer ends it: a step, the timed log line, and the trainer's own value."""
    started = time.perf_counter()
    train_step(run.components)
    record = {"epoch": epoch, "train_loss": 1.0, "train_accuracy": 0.5, "val_log_loss": 0.9, "val_accuracy": 0.6}
    run.end_epoch(record | run.clock(started), {"best_accuracy": 0.6})


def test_a_new_run_writes_its_log_state_and_plot_after_each_epoch(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    assert run.saved is None
    parts = components(0)
    run.resume(parts, "bf16")
    assert list(run.epochs_left()) == [1, 2, 3]
    finish_epoch(run, 1)
    assert {p.name for p in (tmp_path / "run").iterdir()} == {STATE_FILE, HISTORY_FILE, PLOT_FILE}
    (record,) = read_history(tmp_path / "run" / HISTORY_FILE)
    assert record["epoch"] == 1 and record["elapsed_s"] == round(run.elapsed_s, 1)
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)
    assert state["config"] == CONFIG
    assert state["epochs_done"] == 1 and state["precision"] == "bf16" and state["best_accuracy"] == 0.6
    torch.testing.assert_close(state["network"]["weight"], parts["network"].state_dict()["weight"])
    assert state["optimiser"]["state"]  # the momentum buffers, not an empty optimiser


def test_a_rerun_restores_every_component_and_carries_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Killed after epoch 1 of 3 and rerun from other starting weights: the components end where an unbroken
    run's end, and the wall time adds up over both."""
    unbroken = open_run(tmp_path / "unbroken")
    unbroken.resume(components(0), "fp32")
    for epoch in unbroken.epochs_left():
        finish_epoch(unbroken, epoch)

    first = open_run(tmp_path / "run")
    first.resume(components(0), "fp32")
    finish_epoch(first, 1)
    rerun = open_run(tmp_path / "run", CONFIG | {"run_dir": "moved"})
    assert rerun.saved is not None and rerun.saved["best_accuracy"] == 0.6
    rerun.resume(components(1), "fp32")
    assert "resuming" in capsys.readouterr().err
    assert rerun.epochs_done == 1 and rerun.elapsed_s == first.elapsed_s
    assert list(rerun.epochs_left()) == [2, 3]
    for epoch in rerun.epochs_left():
        finish_epoch(rerun, epoch)
    assert [r["epoch"] for r in read_history(tmp_path / "run" / HISTORY_FILE)] == [1, 2, 3]
    assert rerun.elapsed_s > first.elapsed_s
    for name, tensor in unbroken.components["network"].state_dict().items():
        torch.testing.assert_close(rerun.components["network"].state_dict()[name], tensor, msg=name)


def test_other_settings_are_refused_and_the_run_left_alone(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    run.resume(components(0), "fp32")
    finish_epoch(run, 1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(ValueError, match=r"different settings \(lr, sizes\)"):
        open_run(tmp_path / "run", CONFIG | {"sizes": [32], "lr": 0.2})
    with pytest.raises(ValueError, match=r"different settings \(seed\)"):
        open_run(tmp_path / "run", CONFIG | {"seed": 1})  # a setting the saved run did not have
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_a_kill_between_the_log_line_and_the_state_logs_the_epoch_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = open_run(tmp_path / "run")
    run.resume(components(0), "fp32")
    finish_epoch(run, 1)

    def killed(self: ResumableRun, values: Mapping[str, object]) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(ResumableRun, "save_state", killed)
        with pytest.raises(KeyboardInterrupt):
            finish_epoch(run, 2)
    assert [r["epoch"] for r in read_history(tmp_path / "run" / HISTORY_FILE)] == [1, 2]
    rerun = open_run(tmp_path / "run")
    rerun.resume(components(0), "fp32")
    assert rerun.epochs_done == 1
    assert [r["epoch"] for r in read_history(tmp_path / "run" / HISTORY_FILE)] == [1]


def test_a_directory_without_state_starts_over_and_drops_a_stale_log(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run")
    run.resume(components(0), "fp32")
    finish_epoch(run, 1)
    (tmp_path / "run" / STATE_FILE).unlink()
    again = open_run(tmp_path / "run")
    again.resume(components(0), "fp32")
    assert again.saved is None and again.epochs_done == 0
    assert read_history(tmp_path / "run" / HISTORY_FILE) == []
