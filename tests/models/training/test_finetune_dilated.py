"""The dilated fine-tune: it starts from the stride-32 checkpoint's very weights, trains only the last stage
and the head, writes a servable resnet34-os16 checkpoint, and resumes instead of training again."""

from pathlib import Path

import torch

from camserve.models.checkpoint import load_checkpoint
from camserve.models.training.finetune_dilated import (
    CHECKPOINT_NAME,
    DilatedFinetune,
    FinetuneConfig,
)


def config(image_folder: Path, weights: Path, run_dir: Path) -> FinetuneConfig:
    return FinetuneConfig(
        str(image_folder), str(weights), str(run_dir), train_photos=0, monitor_photos=4, epochs=1, batch_size=4
    )


def test_trains_the_last_stage_and_head_only_into_an_os16_checkpoint(
    image_folder: Path, checkpoint_with_split: Path, tmp_path: Path
) -> None:
    start, start_metadata = load_checkpoint(checkpoint_with_split)
    written = DilatedFinetune(config(image_folder, checkpoint_with_split, tmp_path / "run")).run()
    assert written == tmp_path / "run" / CHECKPOINT_NAME
    tuned, metadata = load_checkpoint(written)
    assert (metadata.architecture, metadata.version) == ("resnet34-os16", "3.0.0-rc")
    assert metadata.extra["split"] == start_metadata.extra["split"]
    assert metadata.input_size == start_metadata.input_size
    before, after = start.state_dict(), tuned.state_dict()
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name].half(), after[name].half())}
    assert changed and all(name.startswith(("body.7.", "class_maps.")) for name in changed)
    # Rerun: the state says the epoch is done, so nothing trains and the checkpoint stays as it is.
    again = DilatedFinetune(config(image_folder, checkpoint_with_split, tmp_path / "run"))
    assert list(again.resumable.epochs_left()) == []
