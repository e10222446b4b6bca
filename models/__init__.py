"""The CAM network and everything below the web service: decoding, checkpoints, the CAM maths, runtimes.

Importing this package imports neither torch nor any runtime's library: those load with the module that
needs them (``camserve.models.network``, ``camserve.models.runtimes.torch``, ...).
"""

from camserve.models.inference.cam import class_cam, normalise, weighted_cam
from camserve.models.inference.decode import PhotoRejected, decode_photo
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import PreparedPhoto, prepare
from camserve.models.metadata import CheckpointError, ModelMetadata, load_metadata
from camserve.models.runtimes import RuntimeRequest, load_predictor

__all__ = [
    "CheckpointError",
    "ModelMetadata",
    "PhotoRejected",
    "Prediction",
    "Predictor",
    "PreparedPhoto",
    "RuntimeRequest",
    "class_cam",
    "decode_photo",
    "load_metadata",
    "load_predictor",
    "normalise",
    "prepare",
    "weighted_cam",
]
