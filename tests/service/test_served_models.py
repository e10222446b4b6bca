"""ServedModels: picking a model by name, the default, and what a start with clashing names says."""

from types import SimpleNamespace
from typing import Any

import pytest

from camserve.models.selection.runtime import RuntimeChoice
from camserve.service.served_models import ServedModel, ServedModels, UnknownModel


def fake_model(name: str, ready: bool = True, queued: int = 0, hooks: int = 0) -> ServedModel:
    """A served model whose engine is a stand-in: only what ServedModels reads."""
    predictor = SimpleNamespace(metadata=SimpleNamespace(name=name), hook_count=hooks)
    engine: Any = SimpleNamespace(predictor=predictor, ready=ready, batcher=SimpleNamespace(queued=queued))
    return ServedModel(engine, RuntimeChoice("torch", "fp32", "given"))


def test_no_name_picks_the_first_model_and_a_name_picks_that_one() -> None:
    first, second = fake_model("a"), fake_model("b")
    models = ServedModels([first, second])
    assert models.pick(None) is first and models.default is first
    assert models.pick("b") is second
    assert [model.name for model in models] == ["a", "b"] and len(models) == 2


def test_an_unknown_name_lists_the_served_ones() -> None:
    with pytest.raises(UnknownModel, match="'c'; choose one of: a, b"):
        ServedModels([fake_model("a"), fake_model("b")]).pick("c")


def test_two_checkpoints_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="both named a"):
        ServedModels([fake_model("a"), fake_model("b"), fake_model("a")])
    with pytest.raises(ValueError, match="at least one"):
        ServedModels([])


def test_readiness_queue_and_hooks_cover_every_model() -> None:
    models = ServedModels([fake_model("a", queued=2, hooks=0), fake_model("b", ready=False, queued=3, hooks=1)])
    assert models.ready is False
    assert models.queued == 5 and models.hook_count == 1
    assert ServedModels([fake_model("a")]).ready is True
