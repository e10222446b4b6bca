"""The one place a model's answer becomes result JSON, for the HTTP API and the command line alike."""

import numpy as np

from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata
from camserve.service.schemas import Classification, ModelInfo, PredictionResult, Zoom


def model_info(metadata: ModelMetadata) -> ModelInfo:
    return ModelInfo(name=metadata.name, version=metadata.version, trained=metadata.trained)


def stored_classes(result: PredictionResult) -> list[str]:
    """A stored result's classes in its model's class-map order. ``by_class`` wrote its probabilities in that
    order and every store keeps the JSON as written, so a result stays readable whichever models serve now."""
    return list(result.probabilities)


def by_class(probabilities: np.ndarray, metadata: ModelMetadata) -> dict[str, float]:
    return {name: float(p) for name, p in zip(metadata.class_names, probabilities, strict=True)}


def classify(
    prediction: Prediction,
    metadata: ModelMetadata,
    width: int,
    height: int,
    tta: bool = False,
    zoom: Zoom | None = None,
) -> Classification:
    """Label, confidence and probabilities by class name, for a photo of ``width`` x ``height``."""
    return Classification(
        label=metadata.class_names[prediction.label_index()],
        confidence=prediction.confidence,
        probabilities=by_class(prediction.probabilities, metadata),
        width=width,
        height=height,
        model=model_info(metadata),
        tta=tta,
        zoom=zoom or Zoom(),
    )
