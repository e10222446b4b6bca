"""The student is the served network plus a throw-away head, and the loss is the documented sum of terms."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional

from camserve.models.network import CamNetwork
from camserve.models.training.distill import LossWeights, Student, training_loss


def small_network() -> CamNetwork:
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    return CamNetwork(body, body_channels=8, num_classes=2).eval()


@pytest.mark.parametrize("teacher_classes", [0, 1000])
def test_student_log_probs_are_the_served_networks(teacher_classes: int) -> None:
    """Training optimises exactly what the service computes; a drift here would train the wrong function."""
    network = small_network()
    student = Student(network, teacher_classes).eval()
    images = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        log_probs, aux = student(images)
        torch.testing.assert_close(log_probs, network(images))
    if teacher_classes:
        assert aux is not None
        assert aux.shape == (3, teacher_classes)
        assert student.aux_head is not None
        assert student.aux_head.in_features == network.class_maps.in_channels
    else:
        assert aux is None
        assert student.aux_head is None


def test_student_keeps_the_network_state_dict_separate() -> None:
    """Only ``student.network`` is saved: its keys must be a plain CamNetwork's, the aux head outside it."""
    network = small_network()
    student = Student(network, 10)
    assert student.network.state_dict().keys() == small_network().state_dict().keys()
    assert any(key.startswith("aux_head.") for key in student.state_dict())


def test_aux_head_learns_from_the_imagenet_term_only() -> None:
    """The auxiliary head must receive gradient from the teacher term and reach the body through it."""
    student = Student(small_network(), 5).train()
    log_probs, aux = student(torch.randn(2, 3, 16, 16))
    weights = LossWeights(hard=0.0, teacher_two_class=0.0, teacher_imagenet=1.0)
    loss = training_loss(log_probs, aux, torch.tensor([0, 1]), None, torch.randn(2, 5), weights)
    loss.backward()
    assert student.aux_head is not None and student.aux_head.weight.grad is not None
    assert float(student.aux_head.weight.grad.abs().sum()) > 0
    assert float(student.network.body[0].weight.grad.abs().sum()) > 0


def test_hard_loss_without_smoothing_is_nll() -> None:
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]))
    labels = torch.tensor([0, 1, 1])
    loss = training_loss(log_probs, None, labels, None, None, LossWeights(label_smoothing=0.0))
    expected = -(math.log(0.9) + math.log(0.7) + math.log(0.4)) / 3
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_by_hand() -> None:
    """Smoothing eps spreads eps/C of the target over every class: (1 - eps) * nll + eps * mean(-log p)."""
    log_probs = torch.log(torch.tensor([[0.8, 0.2]]))
    loss = training_loss(log_probs, None, torch.tensor([0]), None, None, LossWeights(label_smoothing=0.1))
    expected = 0.9 * -math.log(0.8) + 0.1 * -(math.log(0.8) + math.log(0.2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_two_class_teacher_term_by_hand() -> None:
    """KL(teacher || student), batch mean, scaled by its weight; zero when the student agrees."""
    student_p = torch.tensor([[0.8, 0.2], [0.4, 0.6]])
    teacher_p = torch.tensor([[0.6, 0.4], [0.1, 0.9]])
    labels = torch.tensor([0, 1])
    weights = LossWeights(label_smoothing=0.0, hard=0.0, teacher_two_class=0.5)
    loss = training_loss(student_p.log(), None, labels, teacher_p, None, weights)
    kl = float((teacher_p * (teacher_p.log() - student_p.log())).sum()) / 2
    assert float(loss) == pytest.approx(0.5 * kl, rel=1e-5)
    agreeing = training_loss(student_p.log(), None, labels, student_p, None, weights)
    assert float(agreeing) == pytest.approx(0.0, abs=1e-6)


def test_imagenet_term_needs_both_aux_logits_and_teacher() -> None:
    """With logits equal to the teacher's the term vanishes; without aux logits the teacher is ignored."""
    log_probs = torch.log(torch.tensor([[0.5, 0.5]]))
    labels = torch.tensor([0])
    teacher = torch.randn(1, 7)
    plain = training_loss(log_probs, None, labels, None, None, LossWeights())
    assert float(training_loss(log_probs, None, labels, None, teacher, LossWeights())) == pytest.approx(float(plain))
    same = training_loss(log_probs, teacher.clone(), labels, None, teacher.half(), LossWeights())
    assert float(same) == pytest.approx(float(plain), abs=1e-3)
    aux = torch.zeros(1, 7)
    weights = LossWeights(hard=0.0, teacher_imagenet=2.0)
    target = teacher.softmax(dim=1)
    expected = 2.0 * float((target * (target.log() - aux.log_softmax(dim=1))).sum())
    assert float(training_loss(log_probs, aux, labels, None, teacher, weights)) == pytest.approx(expected, rel=1e-5)


def test_loss_accepts_low_precision_log_probs() -> None:
    """Under bf16 autocast the network's output is bf16; the loss is still computed in float32."""
    log_probs = functional.log_softmax(torch.randn(4, 2), dim=1)
    labels = torch.tensor([0, 1, 0, 1])
    full = training_loss(log_probs, None, labels, None, None, LossWeights())
    low = training_loss(log_probs.bfloat16(), None, labels, None, None, LossWeights())
    assert low.dtype == torch.float32
    assert float(low) == pytest.approx(float(full), abs=2e-2)
