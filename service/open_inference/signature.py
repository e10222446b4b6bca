"""What a camserve model takes and gives in the protocol, and what its metadata says it does.

In: one BYTES tensor ``photo`` of encoded photos (shape ``[N]`` or ``[N, 1]``), as image models on Triton take
them, with the POST's options as request parameters (``class``, ``tta``, ``zoom``, ``store``). Out, each only
when asked: the answer's ``probabilities`` and ``label``, the whole photo's ``class_maps``, the ``cam`` the
overlay colours, and the stored result's ``id``; without ``outputs`` in the request, probabilities and label.
"""

from collections.abc import Callable, Sequence

import numpy as np

from camserve.service.open_inference.codec import BadRequest, OutputTensor, ReadRequest, WantedOutput, bytes_elements
from camserve.service.open_inference.messages import ModelMetadata, Parameters, TensorMetadata
from camserve.service.pictures import given_class
from camserve.service.pipeline import Answer, PredictionOptions
from camserve.service.render import select_cam

__all__ = ["DEFAULT_OUTPUTS", "OUTPUTS", "PHOTO", "check_outputs", "metadata", "options", "output", "photos"]

PHOTO = "photo"
FP32 = "FP32"
BYTES = "BYTES"
VARIABLE = -1  # the protocol's mark of a dimension of variable size
PROBABILITIES = "probabilities"
LABEL = "label"
CLASS_MAPS = "class_maps"
CAM = "cam"
ID = "id"
DATATYPES = {PROBABILITIES: FP32, LABEL: BYTES, CLASS_MAPS: FP32, CAM: FP32, ID: BYTES}
OUTPUTS = tuple(DATATYPES)
DEFAULT_OUTPUTS = (PROBABILITIES, LABEL)


def metadata(name: str, version: str, platform: str, classes: int, grid: tuple[int, int] | None) -> ModelMetadata:
    """The model's inputs and outputs; the map grid (rows, columns) is the model's at its input size, -1 while
    it is not known (before the warm-up's forward)."""
    rows, columns = grid or (VARIABLE, VARIABLE)
    batch = VARIABLE
    shapes = {
        PROBABILITIES: [batch, classes],
        LABEL: [batch],
        CLASS_MAPS: [batch, classes, rows, columns],
        CAM: [batch, rows, columns],
        ID: [batch],
    }
    return ModelMetadata(
        name=name,
        versions=[version],
        platform=platform,
        inputs=[TensorMetadata(name=PHOTO, datatype=BYTES, shape=[batch])],
        outputs=[TensorMetadata(name=output, datatype=DATATYPES[output], shape=shapes[output]) for output in OUTPUTS],
    )


def photos(read: ReadRequest) -> list[bytes]:
    """The photos of the request's one input, checked against what the metadata says."""
    names = [tensor.name for tensor in read.request.inputs]
    if names != [PHOTO]:
        raise BadRequest(f"send one input, {PHOTO!r} (BYTES, encoded photos); got {names}")
    (tensor,) = read.request.inputs
    if tensor.datatype != BYTES:
        raise BadRequest(f"input {PHOTO!r} must be BYTES (encoded photos), got {tensor.datatype}")
    shape = tensor.shape
    if len(shape) not in (1, 2) or shape[1:] not in ([], [1]) or shape[0] < 1:
        raise BadRequest(f"input {PHOTO!r} must have shape [N] or [N, 1] with N >= 1 photos, got {shape}")
    elements = bytes_elements(tensor, read.binary.get(PHOTO))
    if len(elements) != shape[0]:
        raise BadRequest(f"input {PHOTO!r}: its shape says {shape[0]} photos, its data holds {len(elements)}")
    return elements


def check_outputs(wanted: Sequence[WantedOutput]) -> None:
    unknown = [output.name for output in wanted if output.name not in DATATYPES]
    if unknown:
        raise BadRequest(f"no output named {', '.join(unknown)}; choose from {', '.join(OUTPUTS)}")


def options(parameters: Parameters, model: str) -> PredictionOptions:
    """The request's parameters as the POST's options: the same meaning, and the same refusals downstream."""
    class_name = parameters.get("class")
    if class_name is not None and not isinstance(class_name, str):
        raise BadRequest(f"parameter class must be a class name, got {class_name!r}")
    return PredictionOptions(
        store=_flag(parameters, "store"),
        class_name=given_class(class_name),
        tta=_flag(parameters, "tta"),
        zoom=_flag(parameters, "zoom"),
        model=model,
    )


def output(name: str, answers: Sequence[Answer]) -> OutputTensor:
    """The output called ``name`` (checked by ``check_outputs``) for a batch of answers, in their order."""
    return _OUTPUT_BUILDERS[name](answers)


def _flag(parameters: Parameters, key: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"parameter {key} must be true or false, got {value!r}")
    return value


def _fp32(name: str, arrays: Sequence[np.ndarray]) -> OutputTensor:
    values = np.stack(arrays).astype(np.float32, copy=False)
    return OutputTensor(name, FP32, values.shape, values)


def _bytes(name: str, texts: Sequence[str]) -> OutputTensor:
    return OutputTensor(name, BYTES, (len(texts),), [text.encode() for text in texts])


def _probabilities(answers: Sequence[Answer]) -> OutputTensor:
    return _fp32(PROBABILITIES, [answer.probabilities for answer in answers])


def _labels(answers: Sequence[Answer]) -> OutputTensor:
    return _bytes(LABEL, [answer.classification.label for answer in answers])


def _class_maps(answers: Sequence[Answer]) -> OutputTensor:
    return _fp32(CLASS_MAPS, [answer.class_maps for answer in answers])


def _cams(answers: Sequence[Answer]) -> OutputTensor:
    return _fp32(CAM, [select_cam(answer.class_maps, answer.map_weights, answer.map_class) for answer in answers])


def _ids(answers: Sequence[Answer]) -> OutputTensor:
    """Where each result is kept (GET /predictions/{id}); empty where nothing was (store false)."""
    return _bytes(ID, [answer.result.id if answer.result else "" for answer in answers])


_OUTPUT_BUILDERS: dict[str, Callable[[Sequence[Answer]], OutputTensor]] = {
    PROBABILITIES: _probabilities,
    LABEL: _labels,
    CLASS_MAPS: _class_maps,
    CAM: _cams,
    ID: _ids,
}
