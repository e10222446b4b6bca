"""The one place a model's answer becomes result JSON, for the HTTP API and the command line alike."""

from camserve.models.metadata import ModelMetadata
from camserve.models.predictor import Prediction
from camserve.service.schemas import Classification, ModelInfo


def model_info(metadata: ModelMetadata) -> ModelInfo:
    return ModelInfo(name=metadata.name, version=metadata.version, trained=metadata.trained)


def classify(
    prediction: Prediction, metadata: ModelMetadata, width: int, height: int, tta: bool = False
) -> Classification:
    """Label, confidence and probabilities by class name, for a photo of ``width`` x ``height``."""
    names = metadata.class_names
    return Classification(
        label=names[prediction.label_index()],
        confidence=prediction.confidence,
        probabilities={name: float(p) for name, p in zip(names, prediction.probabilities, strict=True)},
        width=width,
        height=height,
        model=model_info(metadata),
        tta=tta,
    )
