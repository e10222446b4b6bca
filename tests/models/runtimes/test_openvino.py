"""The OpenVINO runtime: the PyTorch path's answers and class maps in fp32, the same labels in bf16 where the
CPU has it and in the shipped int8 graph, int8 only where the gate passed that very graph for these weights,
and clear refusals for what it cannot do."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openvino
import pytest

from camserve.models.evaluation.gate import gate_record_path, int8_files, load_gate_record
from camserve.models.inference.preprocess import prepare
from camserve.models.metadata import SHIPPED_WEIGHTS, load_metadata
from camserve.models.runtimes import RuntimeRequest
from camserve.models.runtimes.openvino import OpenVinoPredictor, load, native_bf16
from camserve.models.runtimes.torch import TorchPredictor

NATIVE_BF16 = native_bf16(openvino.Core())


@pytest.fixture(scope="module")
def fp32(shipped_onnx_cache: Path) -> OpenVinoPredictor:
    return load(RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="fp32", cache_dir=shipped_onnx_cache))


@pytest.fixture(scope="module")
def chelsea_input(chelsea_bytes: bytes) -> np.ndarray:
    return prepare(chelsea_bytes, load_metadata(SHIPPED_WEIGHTS), max_pixels=50_000_000).pixels[None]


def random_batch(size: int, side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((size, 3, side, side), dtype=np.float32)


@pytest.mark.parametrize("size", [1, 3, 8])
def test_fp32_gives_the_torch_answers_for_every_batch_size(
    fp32: OpenVinoPredictor, served_predictor: TorchPredictor, size: int
) -> None:
    batch = random_batch(size, served_predictor.metadata.input_size)
    for ours, reference in zip(fp32.predict(batch), served_predictor.predict(batch), strict=True):
        assert ours.label_index() == reference.label_index()
        np.testing.assert_allclose(ours.probabilities, reference.probabilities, atol=1e-4)
        np.testing.assert_allclose(ours.class_maps, reference.class_maps, atol=1e-3)
        assert ours.class_maps.dtype == np.float32
    assert fp32.hook_count == 0
    assert (fp32.runtime, fp32.device, fp32.precision) == ("openvino", "cpu", "fp32")


def test_auto_precision_is_fp32(shipped_onnx_cache: Path) -> None:
    assert load(RuntimeRequest(SHIPPED_WEIGHTS, cache_dir=shipped_onnx_cache)).precision == "fp32"


def test_other_input_sizes_are_served(fp32: OpenVinoPredictor, served_predictor: TorchPredictor) -> None:
    """camserve evaluate --input-size feeds the export other sizes; the graph's spatial sizes are dynamic."""
    batch = random_batch(2, 96)
    for ours, reference in zip(fp32.predict(batch), served_predictor.predict(batch), strict=True):
        np.testing.assert_allclose(ours.probabilities, reference.probabilities, atol=1e-4)


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16 (avx512_bf16 or AMX)")
def test_bf16_keeps_the_labels_and_the_maps(shipped_onnx_cache: Path, served_predictor: TorchPredictor) -> None:
    bf16 = load(RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="bf16", cache_dir=shipped_onnx_cache))
    assert bf16.precision == "bf16"
    batch = random_batch(8, served_predictor.metadata.input_size, seed=1)
    for ours, reference in zip(bf16.predict(batch), served_predictor.predict(batch), strict=True):
        assert ours.label_index() == reference.label_index()
        correlation = np.corrcoef(ours.class_maps.ravel(), reference.class_maps.ravel())[0, 1]
        assert correlation > 0.99


@pytest.mark.skipif(NATIVE_BF16, reason="this CPU has native bf16")
def test_bf16_is_refused_without_native_bf16(shipped_onnx_cache: Path) -> None:
    with pytest.raises(RuntimeError, match="no native bf16"):
        load(RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="bf16", cache_dir=shipped_onnx_cache))


@pytest.mark.parametrize(("device", "precision"), [("cpu", "fp16"), ("cuda", "fp32")])
def test_what_it_cannot_run_is_refused(device: str, precision: str, shipped_onnx_cache: Path) -> None:
    request = RuntimeRequest(SHIPPED_WEIGHTS, device=device, precision=precision, cache_dir=shipped_onnx_cache)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="'openvino' runs fp32, bf16 or int8 on the CPU"):
        load(request)


def test_rejects_a_batch_of_the_wrong_shape(fp32: OpenVinoPredictor) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        fp32.predict(np.zeros((3, 144, 144), dtype=np.float32))


def test_the_shipped_int8_graph_passed_the_gate_and_keeps_the_answers(
    served_predictor: TorchPredictor, chelsea_input: np.ndarray
) -> None:
    record = load_gate_record(SHIPPED_WEIGHTS)
    assert record is not None and record.passed("openvino", "int8")
    assert set(record.results["openvino:int8"]) == {"validation", "full_resolution"}
    int8 = load(RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="int8"))
    assert (int8.runtime, int8.precision) == ("openvino", "int8")
    (ours,), (reference,) = int8.predict(chelsea_input), served_predictor.predict(chelsea_input)
    assert ours.label_index() == reference.label_index()
    assert np.corrcoef(ours.class_maps.ravel(), reference.class_maps.ravel())[0, 1] > 0.99


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    """The shipped weights, int8 graph and gate record, copied where a test may spoil them."""
    weights = tmp_path / SHIPPED_WEIGHTS.name
    for source in (SHIPPED_WEIGHTS, *vars(int8_files(SHIPPED_WEIGHTS)).values(), gate_record_path(SHIPPED_WEIGHTS)):
        shutil.copy(source, tmp_path / source.name)
    shutil.copy(SHIPPED_WEIGHTS.with_suffix(".json"), weights.with_suffix(".json"))
    return weights


def int8_request(weights: Path) -> RuntimeRequest:
    return RuntimeRequest(weights, device="cpu", precision="int8", cache_dir=weights.parent / "exports")


def test_int8_loads_from_a_copy_with_its_record(weights_copy: Path) -> None:
    assert load(int8_request(weights_copy)).precision == "int8"


def test_int8_without_a_record_is_refused(weights_copy: Path) -> None:
    gate_record_path(weights_copy).unlink()
    with pytest.raises(RuntimeError, match=r"no gated int8 graph .* run camserve quantize"):
        load(int8_request(weights_copy))


def test_int8_graph_other_than_the_one_measured_is_refused(weights_copy: Path) -> None:
    xml = int8_files(weights_copy).xml
    xml.write_text(xml.read_text() + "\n")
    with pytest.raises(RuntimeError, match="not the int8 graph the gate measured"):
        load(int8_request(weights_copy))


def test_int8_for_other_weights_is_refused(weights_copy: Path) -> None:
    """Retrained weights make the old record void: the int8 graph follows the weights."""
    with weights_copy.open("ab") as weights:
        weights.write(b"\0")
    with pytest.raises(RuntimeError, match="no gated int8 graph"):
        load(int8_request(weights_copy))


def test_int8_that_failed_the_gate_is_refused(weights_copy: Path) -> None:
    path = gate_record_path(weights_copy)
    path.write_text(path.read_text().replace('"failures": []', '"failures": ["label agreement < 0.995"]', 1))
    with pytest.raises(RuntimeError, match="failed the accuracy gate"):
        load(int8_request(weights_copy))


@pytest.fixture(scope="module")
def two_lanes(shipped_onnx_cache: Path) -> OpenVinoPredictor:
    request = RuntimeRequest(SHIPPED_WEIGHTS, device="cpu", precision="fp32", cache_dir=shipped_onnx_cache, lanes=2)
    return load(request)


def test_a_lane_gives_the_answers_of_one_forward_on_every_core(two_lanes: OpenVinoPredictor) -> None:
    assert two_lanes.lanes == 2
    batch = random_batch(4, two_lanes.metadata.input_size)
    for in_lane, alone in zip(two_lanes.predict_in_lane(batch), two_lanes.predict(batch), strict=True):
        np.testing.assert_allclose(in_lane.probabilities, alone.probabilities, atol=1e-5)
        np.testing.assert_allclose(in_lane.class_maps, alone.class_maps, atol=1e-4)


def test_from_many_threads_each_caller_gets_its_own_answers_whichever_way_it_went(two_lanes: OpenVinoPredictor) -> None:
    """Every caller gets its own batch's answers back, whichever way it went, from many threads at once."""
    side = two_lanes.metadata.input_size
    batches = [random_batch(2, side, seed) for seed in range(6)]
    expected = [[p.label_index() for p in two_lanes.predict(batch)] for batch in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        ways = [two_lanes.predict_in_lane if i % 2 else two_lanes.predict for i in range(6)]
        answers = list(pool.map(lambda way, batch: way(batch), ways, batches))
    assert [[p.label_index() for p in answer] for answer in answers] == expected


def test_one_lane_is_one_forward_on_every_core(fp32: OpenVinoPredictor) -> None:
    batch = random_batch(2, fp32.metadata.input_size)
    assert fp32.lanes == 1
    assert [p.label_index() for p in fp32.predict_in_lane(batch)] == [p.label_index() for p in fp32.predict(batch)]
