"""The bare forward a server is measured against: the service's own inputs, any batch size, tables averaged."""

import numpy as np
import pytest

from bench.lib.forward import ForwardTimer, best_photos_per_s, mean_table
from bench.lib.photos import generated_photos
from camserve.models.runtimes.torch import TorchPredictor


def test_batches_cycle_through_the_prepared_photos(red_patch_predictor: TorchPredictor) -> None:
    photos = generated_photos([(64, 48), (48, 64)], per_size=1, seed=0)
    timer = ForwardTimer(red_patch_predictor, photos, max_pixels=10_000_000)

    batch = timer.batch(5)

    size = red_patch_predictor.metadata.input_size
    assert batch.shape == (5, 3, size, size)
    assert np.array_equal(batch[0], batch[2]) and not np.array_equal(batch[0], batch[1])
    assert np.array_equal(timer.photo(photos[1])[0], batch[1])


def test_a_table_has_a_row_per_batch_size(red_patch_predictor: TorchPredictor) -> None:
    timer = ForwardTimer(red_patch_predictor, generated_photos([(64, 48)], 2, seed=0), max_pixels=10_000_000)

    table = timer.table([1, 3], reps=2)

    assert [row["batch"] for row in table] == [1, 3]
    assert all(row["ms_per_batch"] > 0 and row["photos_per_s"] > 0 for row in table)


def test_tables_average_by_time_per_batch_not_by_rate() -> None:
    first = [{"batch": 1, "ms_per_batch": 10.0, "photos_per_s": 100.0}, {"batch": 4, "ms_per_batch": 20.0}]
    second = [{"batch": 1, "ms_per_batch": 30.0, "photos_per_s": 33.3}, {"batch": 4, "ms_per_batch": 60.0}]

    mean = mean_table([first, second])

    assert mean == [
        {"batch": 1, "ms_per_batch": 20.0, "ms_per_photo": 20.0, "photos_per_s": 50.0},
        {"batch": 4, "ms_per_batch": 40.0, "ms_per_photo": 10.0, "photos_per_s": 100.0},
    ]
    assert best_photos_per_s(mean) == 100.0


def test_tables_of_different_batch_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        mean_table([[{"batch": 1, "ms_per_batch": 1.0}], []])
