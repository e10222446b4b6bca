"""The picture cache: bounded in bytes, forgets a result's pictures, and keeps none drawn of a result forgotten
meanwhile (the route-level race is in test_routes_privacy.py)."""

from camserve.service.picture_cache import PictureCache


def test_a_drawn_picture_is_kept_and_forgotten_with_its_result() -> None:
    cache = PictureCache(100)
    with cache.drawing("a") as drawing:
        cache.keep(drawing, ("a", "overlay"), b"png-a")
    with cache.drawing("b") as drawing:
        cache.keep(drawing, ("b", "overlay"), b"png-b")
    cache.forget(["a"])
    assert cache.get(("a", "overlay")) is None
    assert cache.get(("b", "overlay")) == b"png-b"


def test_a_picture_of_a_result_forgotten_while_drawn_is_not_kept() -> None:
    cache = PictureCache(100)
    with cache.drawing("a") as gone, cache.drawing("b") as other:
        cache.forget(["a"])
        cache.keep(gone, ("a", "overlay"), b"png-a")
        cache.keep(other, ("b", "overlay"), b"png-b")
    assert len(cache) == 1
    assert cache.get(("b", "overlay")) == b"png-b"


def test_a_picture_larger_than_the_whole_cache_is_not_kept() -> None:
    """LRUCache raises on a value over its bound: a huge photo's picture must be served, just not cached."""
    cache = PictureCache(4)
    with cache.drawing("a") as drawing:
        cache.keep(drawing, ("a", "overlay"), b"12345")
    assert len(cache) == 0
