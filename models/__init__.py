"""The CAM network, its checkpoints and the code that runs it."""

from models.cam import capture_output, class_cam, normalise, weighted_cam
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.metadata import ModelMetadata
from models.network import CamNetwork, build_network
from models.onnx_backend import OnnxPredictor, load_onnx_predictor
from models.predictor import CamPredictor, Prediction, Predictor
from models.preprocess import to_model_input
from models.runtime import resolve_backend, resolve_device, resolve_precision

__all__ = [
    "CamNetwork",
    "CamPredictor",
    "CheckpointError",
    "ModelMetadata",
    "OnnxPredictor",
    "Prediction",
    "Predictor",
    "build_network",
    "capture_output",
    "class_cam",
    "load_checkpoint",
    "load_onnx_predictor",
    "normalise",
    "resolve_backend",
    "resolve_device",
    "resolve_precision",
    "save_checkpoint",
    "to_model_input",
    "weighted_cam",
]
