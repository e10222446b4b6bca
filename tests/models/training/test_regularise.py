"""Mixup, CutMix, the weights' moving average and stochastic depth: what each does to a batch or a network,
and a run with all of them on that resumes exactly and saves the averaged weights."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from camserve.models.checkpoint import load_checkpoint
from camserve.models.network import build_network
from camserve.models.training.regularise import (
    Regularisation,
    add_stochastic_depth,
    mix_batch,
    weight_average,
)
from camserve.models.training.trainer import BEST_FILE, TrainConfig, Trainer

pytest.importorskip("matplotlib")  # the trainer's history.png; part of the .[train] extra

BATCH = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).reshape(4, 3, 8, 8)


def test_nothing_is_mixed_when_both_are_off() -> None:
    mixed = mix_batch(BATCH, Regularisation(), torch.Generator().manual_seed(0))
    assert mixed.images is BATCH and mixed.partner is None and mixed.share == 1.0


def test_mixup_blends_each_photo_with_its_partner_reproducibly() -> None:
    mixed = mix_batch(BATCH, Regularisation(mixup_alpha=0.4), torch.Generator().manual_seed(3))
    assert mixed.partner is not None and 0.0 < mixed.share < 1.0
    expected = mixed.share * BATCH + (1 - mixed.share) * BATCH[mixed.partner]
    torch.testing.assert_close(mixed.images, expected)
    again = mix_batch(BATCH, Regularisation(mixup_alpha=0.4), torch.Generator().manual_seed(3))
    torch.testing.assert_close(again.images, mixed.images)


def test_cutmix_pastes_one_box_and_its_share_is_the_area_left() -> None:
    """Every value of BATCH is distinct, so each pixel a photo took from another photo differs from its own."""
    checked = 0
    for seed in range(20):
        mixed = mix_batch(BATCH, Regularisation(cutmix_alpha=1.0), torch.Generator().manual_seed(seed))
        assert mixed.partner is not None
        moved = mixed.partner != torch.arange(len(BATCH))  # a photo paired with itself is left as it is
        if not moved.any():
            continue
        pasted = (mixed.images[moved] != BATCH[moved]).any(dim=0).any(dim=0)
        assert mixed.share == pytest.approx(1 - pasted.float().mean().item())
        torch.testing.assert_close(mixed.images[..., pasted], BATCH[mixed.partner][..., pasted])
        torch.testing.assert_close(mixed.images[..., ~pasted], BATCH[..., ~pasted])
        assert pasted.sum() == pasted.any(dim=1).sum() * pasted.any(dim=0).sum()  # one rectangle
        checked += 1
    assert checked >= 15


def test_with_both_each_batch_uses_one_of_them() -> None:
    regularisation = Regularisation(mixup_alpha=0.4, cutmix_alpha=1.0)
    kinds = set()
    for seed in range(30):
        mixed = mix_batch(BATCH, regularisation, torch.Generator().manual_seed(seed))
        assert mixed.partner is not None
        blended = mixed.share * BATCH + (1 - mixed.share) * BATCH[mixed.partner]
        kinds.add("mixup" if torch.allclose(mixed.images, blended) else "cutmix")
    assert kinds == {"mixup", "cutmix"}


def test_negative_or_out_of_range_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Regularisation(mixup_alpha=-1.0)
    with pytest.raises(ValueError, match="below 1"):
        Regularisation(ema_decay=1.0)


def test_the_weight_average_follows_the_weights_by_its_decay() -> None:
    network = nn.Linear(2, 1)
    average = weight_average(network, decay=0.75)
    with torch.no_grad():
        network.weight.fill_(4.0)
    average.update_parameters(network)  # the first update takes the weights as they are
    with torch.no_grad():
        network.weight.fill_(8.0)
    average.update_parameters(network)
    torch.testing.assert_close(average.module.weight, torch.full((1, 2), 0.75 * 4.0 + 0.25 * 8.0))


def test_stochastic_depth_drops_residual_branches_in_training_only(tiny_architecture: str) -> None:
    torch.manual_seed(0)
    network = build_network(tiny_architecture, 2)
    images = torch.randn(6, 3, 32, 32)
    network.eval()
    with torch.no_grad():
        before = network(images)
    handles = add_stochastic_depth(network, 0.9)
    assert len(handles) == 2  # the tiny body's two BasicBlocks
    with torch.no_grad():
        torch.testing.assert_close(network(images), before)  # evaluation untouched
        network.train()
        torch.manual_seed(1)
        dropped = network(images)
        for handle in handles:
            handle.remove()
        torch.manual_seed(1)
        kept = network(images)
    assert not torch.allclose(dropped, kept)
    with pytest.raises(ValueError, match="residual blocks"):
        add_stochastic_depth(nn.Sequential(nn.Conv2d(3, 3, 1)), 0.1)


@pytest.fixture
def regularised(config: TrainConfig) -> TrainConfig:
    """The shared tiny run, two epochs, with every regulariser on."""
    every = Regularisation(mixup_alpha=0.4, cutmix_alpha=1.0, ema_decay=0.9, stochastic_depth=0.2)
    return replace(config, sizes=(32, 32), regularisation=every)


def test_a_regularised_run_saves_the_average_and_resumes_exactly(
    regularised: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint is the moving average (what validation scored), loads in the service without hooks, and a
    run killed in epoch 2 ends exactly where an unbroken one does, average included."""
    cache = tmp_path / "cache"
    unbroken = Trainer(regularised, cache)
    best = unbroken.run()
    assert unbroken.average is not None
    network, metadata = load_checkpoint(best)
    assert metadata.extra["training"]["config"]["regularisation"]["ema_decay"] == 0.9
    assert sum(len(module._forward_hooks) for module in network.modules()) == 0
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(network(images), unbroken.evaluated.eval()(images), atol=2e-2, rtol=0)

    first = replace(regularised, run_dir=str(tmp_path / "broken"))
    train_epoch = Trainer._train_epoch

    def killed_in_epoch_2(self: Trainer, epoch: int) -> tuple[float, float]:
        if epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(self, epoch)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_train_epoch", killed_in_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            Trainer(first, cache).run()
    resumed = Trainer(first, cache)
    assert resumed.resumable.epochs_done == 1
    resumed.run()
    assert (Path(first.run_dir) / BEST_FILE).is_file()
    assert resumed.average is not None
    for name, tensor in unbroken.average.state_dict().items():
        torch.testing.assert_close(resumed.average.state_dict()[name], tensor, msg=name)
