"""Evaluating a folder goes through the service's own decode and preprocessing; unreadable photos are listed,
never scored."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camserve.models.dataset import ImageFolder, scan_image_folder
from camserve.models.evaluation.folder import (
    answers_changed,
    evaluate_folder,
    mean_probabilities,
    model_inputs,
    photo_views,
)
from camserve.models.inference.preprocess import prepare
from camserve.models.inference.zoom import ZOOM_RULE, combine, crop_input, zoom_box
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.settings import Settings
from tests.support.photos import write_image_folder, write_patch_folder

RED = (220, 30, 30)
BLUE = (30, 30, 220)
MAX_PIXELS = Settings().max_pixels


@pytest.fixture(scope="module")
def red_other_folder(tmp_path_factory: pytest.TempPathFactory) -> ImageFolder:
    """red/: 3 red photos, 1 blue one (the red-patch model calls it 'other') and a broken file; other/: 3 blue."""
    root = write_image_folder(tmp_path_factory.mktemp("eval") / "photos", {"red": RED, "other": BLUE}, per_class=3)
    shutil.copy(root / "other" / "other-00.jpg", root / "red" / "red-03-looks-blue.jpg")
    (root / "red" / "red-04-broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return scan_image_folder(root, ("red", "other"))


def test_photo_views_are_photo_mirror_crop_and_crop_mirror() -> None:
    """Four views; 1 and 3 mirror 0 and 2, and 2 is the centre 85% of the photo at full detail."""
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:, :3] = 255  # a left border, to tell the mirror apart and to be cropped away
    photo = Image.fromarray(pixels)
    views = photo_views(photo, tta=True)
    assert len(views) == 4
    assert views[0] is photo
    np.testing.assert_array_equal(np.asarray(views[1]), pixels[:, ::-1])
    assert views[2].size == (51, 34)
    assert np.asarray(views[2])[:, 0].max() == 0  # the border is outside the centre crop
    np.testing.assert_array_equal(np.asarray(views[3]), np.asarray(views[2])[:, ::-1])
    assert photo_views(photo, tta=False) == [photo]


def test_model_inputs_first_view_is_what_the_service_sees(red_patch_predictor: TorchPredictor) -> None:
    """Evaluation must score the service's own input: view 0 equals ``prepare``'s tensor exactly."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)).save(buffer, "JPEG")
    data, metadata = buffer.getvalue(), red_patch_predictor.metadata
    views = model_inputs(data, metadata, 10**7, tta=True)
    assert views.shape == (4, 3, metadata.input_size, metadata.input_size)
    np.testing.assert_array_equal(views[0], prepare(data, metadata, 10**7).pixels)
    assert model_inputs(data, metadata, 10**7, tta=False).shape[0] == 1


def test_mean_probabilities_averages_each_photos_views(red_patch_predictor: TorchPredictor) -> None:
    """Photos with different view counts are split back correctly, and each row is its views' mean."""
    generator = np.random.default_rng(0)
    first, second = (
        generator.random((1, 3, 64, 64), dtype=np.float32) * 3,
        generator.random((4, 3, 64, 64), dtype=np.float32) * 3,
    )
    combined = mean_probabilities(red_patch_predictor, [first, second])
    separately = [
        np.stack([p.probabilities for p in red_patch_predictor.predict(v)]).mean(axis=0) for v in (first, second)
    ]
    assert combined.shape == (2, 2)
    np.testing.assert_allclose(combined, np.stack(separately), rtol=1e-5)


def test_tta_sees_more_of_a_centred_subject(red_patch_predictor: TorchPredictor) -> None:
    """A red centre on a blue ground: the centre crops see more red, so TTA raises P(red)."""
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[..., 2] = 200
    pixels[20:44, 20:44] = (255, 0, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    metadata = red_patch_predictor.metadata
    plain = mean_probabilities(red_patch_predictor, [model_inputs(buffer.getvalue(), metadata, 10**7, tta=False)])
    tta = mean_probabilities(red_patch_predictor, [model_inputs(buffer.getvalue(), metadata, 10**7, tta=True)])
    np.testing.assert_allclose(tta.sum(axis=1), 1.0, rtol=1e-5)
    assert tta[0, 0] > plain[0, 0]


def test_evaluate_folder_scores_readable_photos_and_lists_the_rest(
    red_patch_predictor: TorchPredictor, red_other_folder: ImageFolder
) -> None:
    """7 readable photos in batches of 2 (a partial last batch), one mislabelled, one broken."""
    indices = list(range(len(red_other_folder.files)))
    evaluation = evaluate_folder(red_patch_predictor, red_other_folder, indices, MAX_PIXELS, batch_size=2)
    ((broken, reason),) = evaluation.failures
    assert broken == "red/red-04-broken.jpg"
    assert reason
    assert "red/red-04-broken.jpg" not in evaluation.files
    assert len(evaluation.files) == 7
    assert evaluation.probabilities.shape == (7, 2)
    assert evaluation.labels.tolist() == [0, 0, 0, 0, 1, 1, 1]
    report = evaluation.report
    assert report.photos == 7
    assert report.class_names == ("red", "other")
    assert report.confusion == ((3, 1), (0, 3))
    assert report.accuracy == pytest.approx(6 / 7)
    looks_blue = evaluation.files.index("red/red-03-looks-blue.jpg")
    assert evaluation.probabilities[looks_blue].argmax() == 1


def test_evaluate_folder_matches_the_service_pipeline(
    red_patch_predictor: TorchPredictor, red_other_folder: ImageFolder
) -> None:
    """Batching and threading must not change a photo's result: each equals a lone prediction via ``prepare``."""
    from camserve.models.inference.preprocess import prepare

    indices = [0, 3, 5]
    evaluation = evaluate_folder(red_patch_predictor, red_other_folder, indices, MAX_PIXELS, batch_size=32)
    for row, index in enumerate(indices):
        data = red_other_folder.files[index].read_bytes()
        pixels = prepare(data, red_patch_predictor.metadata, MAX_PIXELS).pixels
        (alone,) = red_patch_predictor.predict(pixels[None])
        np.testing.assert_allclose(evaluation.probabilities[row], alone.probabilities, rtol=1e-5, atol=1e-6)


def test_evaluate_folder_on_a_subset_with_tta(
    red_patch_predictor: TorchPredictor, red_other_folder: ImageFolder
) -> None:
    """Only the given indices count (that is how --split val works), with or without TTA."""
    others = [i for i, label in enumerate(red_other_folder.labels) if label == 1]
    evaluation = evaluate_folder(red_patch_predictor, red_other_folder, others, MAX_PIXELS, tta=True)
    assert evaluation.report.photos == 3
    assert evaluation.failures == ()
    assert evaluation.report.confusion == ((0, 0), (0, 3))


def test_evaluate_folder_with_nothing_readable_fails(red_patch_predictor: TorchPredictor, tmp_path: Path) -> None:
    for name in ("red", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"nope")
    (tmp_path / "other" / "y.gif").write_bytes(b"GIF89a broken")
    folder = scan_image_folder(tmp_path, ("red", "other"))
    with pytest.raises(ValueError, match="none of the 3 photos could be read"):
        evaluate_folder(red_patch_predictor, folder, range(3), MAX_PIXELS)


def test_evaluate_folder_with_zoom_is_each_photos_own_zoom(red_patch_predictor: TorchPredictor, tmp_path: Path) -> None:
    """Batches of 4 over 6 photos, zoomed and not interleaved: each row is that photo's own zoom, as the service
    would make it, and the unzoomed rows are the plain answers."""
    folder = scan_image_folder(write_patch_folder(tmp_path / "patches"), ("red", "other"))
    indices = list(range(len(folder.files)))
    evaluation = evaluate_folder(red_patch_predictor, folder, indices, MAX_PIXELS, batch_size=4, zoom=ZOOM_RULE)
    assert evaluation.zoomed is not None and evaluation.unzoomed is not None
    assert evaluation.zoomed.tolist() == [label == 0 for label in folder.labels]
    metadata = red_patch_predictor.metadata
    for row, index in enumerate(indices):
        data = folder.files[index].read_bytes()
        prepared = prepare(data, metadata, MAX_PIXELS)
        (photo,) = red_patch_predictor.predict(prepared.pixels[None])
        np.testing.assert_allclose(evaluation.unzoomed[row], photo.probabilities, rtol=1e-5, atol=1e-6)
        box = zoom_box(photo, prepared.width, prepared.height, metadata.input_size, ZOOM_RULE)
        expected = photo.probabilities
        if box is not None:
            crop = crop_input(data, box, prepared.width, prepared.height, metadata, MAX_PIXELS)
            (cropped,) = red_patch_predictor.predict(crop[None])
            expected = combine(photo, cropped, ZOOM_RULE)
        np.testing.assert_allclose(evaluation.probabilities[row], expected, rtol=1e-5, atol=1e-6)


def test_evaluate_folder_scores_zoom_apart_from_the_four_view_tta(
    red_patch_predictor: TorchPredictor, red_other_folder: ImageFolder
) -> None:
    with pytest.raises(ValueError, match="not with the 4-view TTA"):
        evaluate_folder(red_patch_predictor, red_other_folder, [0], MAX_PIXELS, tta=True, zoom=ZOOM_RULE)


def test_answers_changed_counts_fixed_and_broken_photos() -> None:
    labels = np.array([0, 0, 1, 1])
    before = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])  # right, wrong, wrong, right
    after = np.array([[0.4, 0.6], [0.7, 0.3], [0.1, 0.9], [0.2, 0.8]])  # wrong, right, right, right
    assert answers_changed(before, after, labels) == (2, 1)
    assert answers_changed(after, before, labels) == (1, 2)
