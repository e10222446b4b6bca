"""An epoch's training scores are means over photos, not over batches: a short last batch counts less."""

import pytest
import torch

from camserve.models.training.running_score import RunningScore


def test_means_are_weighted_by_batch_size() -> None:
    score = RunningScore(torch.device("cpu"))
    right = torch.log(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]))
    score.add(torch.tensor(0.5), right, torch.tensor([0, 0, 0]))  # three photos, all right
    score.add(torch.tensor(2.0), right[:1], torch.tensor([1]))  # one photo, wrong
    loss, accuracy = score.loss_and_accuracy()
    assert loss == pytest.approx((3 * 0.5 + 2.0) / 4)
    assert accuracy == pytest.approx(3 / 4)
