"""The training tests' shared run: the tiny resnet-shaped body on the synthetic photo folder, one epoch at
32 px on the CPU, so a whole run takes a moment."""

from pathlib import Path

import pytest

from camserve.models.training.trainer import TrainConfig


@pytest.fixture
def config(image_folder: Path, tmp_path: Path, tiny_architecture: str) -> TrainConfig:
    return TrainConfig(
        data=str(image_folder),
        run_dir=str(tmp_path / "run"),
        teacher="none",
        architecture=tiny_architecture,
        sizes=(32,),
        input_size=32,
        cache_size=40,
        batch_size=4,
        max_lr=0.05,
        val_fraction=0.25,
        device="cpu",
        precision="fp32",
    )
