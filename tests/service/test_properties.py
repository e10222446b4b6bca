"""Properties of the CAM maths, the rendering steps and the decoder, over inputs no one would write by hand.

The maps a model produces can be flat, huge, tiny or all negative, and photos can have any size; every step
must still give finite values in [0, 1] of the right shape, or the picture is garbage (or cv2 raises: a 500).
The decoder sees untrusted bytes: mutated small files of every supported format must decode or be a
PhotoRejected, never another exception. Example counts are bounded so the file runs in well under a minute.
"""

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from camserve.models.inference.cam import class_cam, normalise, upsample, weighted_cam
from camserve.models.inference.decode import DecodedPhoto, PhotoRejected, decode_photo
from camserve.service.render import Colormap, colorize, select_cam
from tests.support.photos import encode

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HUGE, TINY = float(np.float32(1e30)), float(np.float32(1e-30))
# Realistic class maps span a few hundred at most; these go far beyond, to float32's near-extremes either way.
map_values = st.one_of(
    st.floats(-1e6, 1e6, width=32),
    st.floats(-HUGE, HUGE, width=32),
    st.floats(-TINY, TINY, width=32),
    st.just(0.0),
)
map_shapes = st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12))


@st.composite
def maps_and_probabilities(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """C class maps (C, h, w), possibly all one value, and C probabilities that sum to one."""
    shape = draw(map_shapes)
    fill = draw(st.one_of(st.none(), map_values))
    maps = (
        np.full(shape, fill, dtype=np.float32)
        if fill is not None
        else draw(arrays(np.float32, shape, elements=map_values))
    )
    weights = draw(arrays(np.float64, shape[0], elements=st.floats(0.0, 1.0)))
    probabilities = (weights / weights.sum() if weights.sum() > 0 else np.full(shape[0], 1.0 / shape[0])).astype(
        np.float32
    )
    return maps, probabilities


def assert_unit_map(cam: np.ndarray, shape: tuple[int, ...]) -> None:
    assert cam.shape == shape
    assert cam.dtype == np.float32
    assert np.isfinite(cam).all()
    assert cam.min(initial=0.0) >= 0.0
    assert cam.max(initial=0.0) <= 1.0


@PROPERTY
@given(maps_and_probabilities())
def test_weighted_and_class_cams_are_finite_non_negative_maps(case: tuple[np.ndarray, np.ndarray]) -> None:
    maps, probabilities = case
    for cam in (weighted_cam(maps, probabilities), *(class_cam(maps, c) for c in range(len(maps)))):
        assert cam.shape == maps.shape[1:]
        assert np.isfinite(cam).all()
        assert (cam >= 0.0).all()


FLOAT32_MAX = float(np.finfo(np.float32).max)


@PROPERTY
@given(arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.floats(width=32)))
@example(np.array([[-FLOAT32_MAX, 0.0, FLOAT32_MAX]], dtype=np.float32))  # max - min overflows float32
def test_normalise_gives_the_unit_range_whatever_it_is_given(cam: np.ndarray) -> None:
    """Any float32 map, NaN and infinities included, becomes finite [0, 1]; a non-flat finite one spans it."""
    normalised = normalise(cam)
    assert_unit_map(normalised, cam.shape)
    if np.isfinite(cam).all() and float(cam.max()) - float(cam.min()) > 1e-3:
        assert normalised.min() == 0.0
        assert normalised.max() == 1.0


@PROPERTY
@given(maps_and_probabilities(), st.data())
def test_select_cam_is_a_unit_map_of_the_map_size(case: tuple[np.ndarray, np.ndarray], data: st.DataObject) -> None:
    maps, probabilities = case
    class_index = data.draw(st.one_of(st.none(), st.integers(0, len(maps) - 1)))
    assert_unit_map(select_cam(maps, probabilities, class_index), maps.shape[1:])


@PROPERTY
@given(
    arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.floats(0.0, 1.0, width=32)),
    st.integers(1, 700),
    st.integers(1, 700),
)
def test_upsample_and_colorize_keep_the_range_at_any_size(cam: np.ndarray, width: int, height: int) -> None:
    """Interpolation stays within the map's own range, so colorize always gets [0, 1] and gives RGB uint8."""
    heat = upsample(cam, width, height)
    assert_unit_map(heat, (height, width))
    assert heat.min() >= cam.min() - 1e-6
    assert heat.max() <= cam.max() + 1e-6
    picture = colorize(heat, Colormap.jet)
    assert picture.shape == (height, width, 3)
    assert picture.dtype == np.uint8


@st.composite
def peaked_maps(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    """A map that is one value everywhere but one higher cell, and an output size at least the map's size.

    Smaller outputs are not covered: there a cell may own no whole pixel, so "its region" is not defined.
    """
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    cam = np.full((rows, cols), draw(st.floats(0.0, 0.5, width=32)), dtype=np.float32)
    cam[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = 1.0
    return cam, draw(st.integers(cols, 900)), draw(st.integers(rows, 900))


@PROPERTY
@given(peaked_maps())
def test_upsampled_peak_stays_in_its_cells_region(case: tuple[np.ndarray, int, int]) -> None:
    """Where the model looked must be where the heatmap is hottest, for square and non-square sizes alike."""
    cam, width, height = case
    rows, cols = cam.shape
    row, col = np.unravel_index(np.argmax(cam), cam.shape)
    heat = upsample(cam, width, height)
    peak_y, peak_x = np.unravel_index(np.argmax(heat), heat.shape)
    # Pixel centres, not pixel edges: where cells are under two pixels tall, that is what decides.
    assert col * width / cols <= peak_x + 0.5 < (col + 1) * width / cols
    assert row * height / rows <= peak_y + 0.5 < (row + 1) * height / rows


# --- decode_photo fuzz ---------------------------------------------------------------------------------------

_NOISE = np.random.default_rng(7).integers(0, 256, (9, 13, 3), dtype=np.uint8)
SEEDS = {
    "PNG": encode(Image.fromarray(_NOISE)),
    "PNG-palette-alpha": encode(Image.fromarray(_NOISE).convert("P"), transparency=0),
    "JPEG": encode(Image.fromarray(_NOISE), "JPEG"),
    "JPEG-progressive": encode(Image.fromarray(_NOISE), "JPEG", progressive=True),
    "GIF": encode(Image.fromarray(_NOISE), "GIF"),
    "WEBP": encode(Image.fromarray(_NOISE), "WEBP"),
    "WEBP-lossless": encode(Image.fromarray(_NOISE), "WEBP", lossless=True),
    "BMP": encode(Image.fromarray(_NOISE), "BMP"),
}
FUZZ_MAX_PIXELS = 4096  # a mutated header may claim any size; keep decodes small and exercise the limit


def flip(data: bytes, position: int, value: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ value]) + data[index + 1 :]


def truncate(data: bytes, position: int, _value: int) -> bytes:
    return data[: position % len(data)]


def insert(data: bytes, position: int, value: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([value]) * (1 + value % 8) + data[index:]


Mutation = Callable[[bytes, int, int], bytes]
mutations = st.lists(
    st.tuples(st.sampled_from([flip, truncate, insert]), st.integers(0, 1 << 16), st.integers(1, 255)),
    min_size=1,
    max_size=6,
)


def assert_decodes_or_rejects(data: bytes, min_decode_size: int | None) -> None:
    try:
        decoded = decode_photo(data, FUZZ_MAX_PIXELS, min_decode_size)
    except PhotoRejected:
        return
    assert isinstance(decoded, DecodedPhoto)
    assert decoded.image.mode == "RGB"
    assert decoded.width * decoded.height <= FUZZ_MAX_PIXELS


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), mutations, st.sampled_from([None, 4]))
def test_mutated_photos_decode_or_are_rejected(
    seed: str, steps: list[tuple[Mutation, int, int]], min_decode_size: int | None
) -> None:
    data = SEEDS[seed]
    for mutate, position, value in steps:
        data = mutate(data, position, value) or data[:1]
    assert_decodes_or_rejects(data, min_decode_size)


headers = st.sampled_from(sorted(SEEDS)).flatmap(lambda name: st.integers(1, 40).map(lambda n: SEEDS[name][:n]))


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.binary(max_size=512), st.builds(bytes.__add__, headers, st.binary(max_size=512))))
def test_random_bytes_and_real_headers_with_random_data_are_rejected_or_decode(data: bytes) -> None:
    """A valid signature and header start followed by noise reach each format's decoder proper."""
    assert_decodes_or_rejects(data, None)
