"""What a model takes and gives in the protocol, without a server: the metadata, the photo input's checks, the
parameters as the POST's options, and the outputs built from answers."""

import base64
import json
from typing import Any

import numpy as np
import pytest

from camserve.service.open_inference import signature
from camserve.service.open_inference.codec import BadRequest, WantedOutput, read_request
from camserve.service.pipeline import Answer, PredictionOptions
from camserve.service.schemas import Classification, ModelInfo, Timings


def test_metadata_gives_the_grid_once_known_and_minus_one_before() -> None:
    known = signature.metadata("m", "2.0.0", "camserve_torch", 3, (5, 7))
    shapes = {output.name: output.shape for output in known.outputs}
    assert shapes == {
        "probabilities": [-1, 3],
        "label": [-1],
        "class_maps": [-1, 3, 5, 7],
        "cam": [-1, 5, 7],
        "id": [-1],
    }
    unknown = signature.metadata("m", "2.0.0", "camserve_torch", 3, None)
    assert [output.shape for output in unknown.outputs if output.name == "cam"] == [[-1, -1, -1]]


def read(inputs: list[dict[str, Any]]) -> Any:
    return read_request(json.dumps({"inputs": inputs}).encode(), None)


def photo(shape: list[int], data: list[Any], datatype: str = "BYTES", name: str = "photo") -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


ONE = base64.b64encode(b"one").decode()


def test_photos_come_from_the_one_photo_input_in_either_shape() -> None:
    assert signature.photos(read([photo([2], [ONE, ONE])])) == [b"one", b"one"]
    assert signature.photos(read([photo([2, 1], [[ONE], [ONE]])])) == [b"one", b"one"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([], "send one input, 'photo'"),
        ([photo([1], [ONE], name="image")], r"send one input, 'photo' .*\['image'\]"),
        ([photo([1], [ONE]), photo([1], [ONE], name="other")], "send one input"),
        ([photo([1], [1.0], datatype="FP32")], "must be BYTES"),
        ([photo([1, 2], [ONE, ONE])], r"shape \[N\] or \[N, 1\]"),
        ([photo([0], [])], "N >= 1"),
        ([photo([], [ONE])], r"shape \[N\]"),
        ([photo([3], [ONE])], "its shape says 3 photos, its data holds 1"),
    ],
)
def test_anything_but_photos_as_the_metadata_says_is_refused(inputs: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        signature.photos(read(inputs))


def test_parameters_are_the_post_s_options() -> None:
    assert signature.options({}, "m") == PredictionOptions(model="m")
    assert signature.options({"class": ""}, "m") == PredictionOptions(model="m")  # empty: the weighted CAM
    options = signature.options({"class": "dog", "tta": True, "zoom": False, "store": False, "other": 1}, "m")
    assert options == PredictionOptions(store=False, class_name="dog", tta=True, zoom=False, model="m")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [({"class": 1}, "class must be a class name"), ({"zoom": "true"}, "zoom must be true or false")],
)
def test_parameters_of_the_wrong_type_are_refused(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        signature.options(parameters, "m")


def test_unknown_outputs_are_refused_by_name() -> None:
    signature.check_outputs([WantedOutput(name, False) for name in signature.OUTPUTS])
    with pytest.raises(BadRequest, match="no output named overlay; choose from probabilities, label"):
        signature.check_outputs([WantedOutput("label", False), WantedOutput("overlay", True)])


def an_answer(label: str, probabilities: list[float], stored_as: str | None = None) -> Answer:
    classification = Classification(
        label=label,
        confidence=max(probabilities),
        probabilities=dict(zip(("cat", "dog"), probabilities, strict=True)),
        width=10,
        height=10,
        model=ModelInfo(name="m", version="1", trained=True),
    )
    result: Any = None if stored_as is None else type("Stored", (), {"id": stored_as})()
    maps = np.stack([np.full((2, 3), probabilities[0]), np.arange(6.0).reshape(2, 3)]).astype(np.float32)
    return Answer(
        classification=classification,
        result=result,
        probabilities=np.array(probabilities, np.float32),
        class_maps=maps,
        map_weights=np.array(probabilities, np.float32),
        map_class=1,
        created=0.0,
        timings=Timings(decode_ms=0, inference_ms=0, total_ms=0),
    )


def test_outputs_stack_the_answers_in_their_order() -> None:
    answers = [an_answer("cat", [0.9, 0.1], "id-1"), an_answer("dog", [0.2, 0.8])]
    probabilities = signature.output("probabilities", answers)
    assert probabilities.datatype == "FP32" and probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.values, [[0.9, 0.1], [0.2, 0.8]])
    assert signature.output("label", answers).values == [b"cat", b"dog"]
    assert signature.output("id", answers).values == [b"id-1", b""]
    assert signature.output("class_maps", answers).shape == (2, 2, 2, 3)
    cam = signature.output("cam", answers)  # map_class 1: the dog's own map, scaled to [0, 1]
    assert cam.shape == (2, 2, 3)
    np.testing.assert_allclose(cam.values[0], np.arange(6.0).reshape(2, 3) / 5, atol=1e-6)
