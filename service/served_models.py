"""The models one service serves, by name: each with its own inference engine, the first the default.

A request picks one with ``?model=NAME``; without it the default answers, so a client that never names a
model sees exactly the single-model service. Names come from each checkpoint's metadata, never from code.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from camserve.models.inference.predictor import Predictor
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes import load_predictor
from camserve.models.selection.runtime import RuntimeChoice, choose_runtime
from camserve.service.inference import InferenceEngine
from camserve.service.settings import Settings

__all__ = ["LoadedModel", "ServedModel", "ServedModels", "UnknownModel", "load_models"]


class UnknownModel(LookupError):
    """A model name that this service does not serve; the message lists the ones it does."""


@dataclass(frozen=True)
class LoadedModel:
    """A predictor, and how its runtime was chosen (reported in /models, /readyz and /metrics)."""

    predictor: Predictor
    runtime: RuntimeChoice

    @classmethod
    def given(cls, predictor: Predictor) -> "LoadedModel":
        """A predictor its caller loaded (tests, benchmarks): its runtime was not chosen here."""
        return cls(predictor, RuntimeChoice(predictor.runtime, predictor.precision, "given"))


def load_models(settings: Settings) -> list[LoadedModel]:
    """Every checkpoint the settings name, the default first, each on the runtime ``CAMSERVE_BACKEND`` chooses
    for it (``auto`` may time the candidates first; cached). A bad checkpoint raises ``CheckpointError``."""
    loaded = []
    for request in settings.runtime_requests():
        choice = choose_runtime(settings.backend, request)
        loaded.append(LoadedModel(load_predictor(choice, request), choice))
    return loaded


@dataclass(frozen=True)
class ServedModel:
    """One loaded checkpoint, the engine that runs it, and how its runtime was chosen."""

    engine: InferenceEngine
    runtime: RuntimeChoice

    @property
    def metadata(self) -> ModelMetadata:
        return self.engine.predictor.metadata

    @property
    def name(self) -> str:
        return self.metadata.name


class ServedModels:
    """Every served model by name, in the order given; the first is the default."""

    def __init__(self, models: list[ServedModel]) -> None:
        if not models:
            raise ValueError("a service needs at least one model")
        names = [model.name for model in models]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"two checkpoints are both named {', '.join(repeated)}: every served model needs its own")
        self._by_name = {model.name: model for model in models}
        self.default = models[0]

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def pick(self, name: str | None) -> ServedModel:
        """The model called ``name``, or the default for ``None``; ``UnknownModel`` for any other name."""
        if name is None:
            return self.default
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(f"no model named {name!r}; choose one of: {', '.join(self._by_name)}") from None

    @property
    def ready(self) -> bool:
        """Every model loaded and warmed up: /readyz waits for all of them, not only the default."""
        return all(model.engine.ready for model in self)

    @property
    def hook_count(self) -> int:
        return sum(model.engine.predictor.hook_count for model in self)

    @property
    def queued(self) -> int:
        return sum(model.engine.batcher.queued for model in self)
