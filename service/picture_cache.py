"""Rendered pictures kept for reuse, bounded in bytes, that never keep a picture of a result deleted meanwhile.

A picture takes a second or more to draw. A DELETE (or the retention's sweep) that lands while one is drawn
forgets what is cached, but the drawing would then put its picture back, of a result that no longer exists:
never served (a cached picture is checked against the store), but held in memory until evicted. So a drawing
registers before it reads the store, a deletion marks the registered drawings of its results, and a marked
drawing's picture is not kept. Everything here runs on the event loop, so no lock is needed.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from cachetools import LRUCache

__all__ = ["Drawing", "PictureCache", "PictureKey"]

PictureKey = tuple[object, ...]  # the result's id first, then what the picture is drawn with


class Drawing:
    """One picture being drawn; ``forgotten`` once its result is deleted while it is."""

    def __init__(self, prediction_id: str) -> None:
        self.prediction_id = prediction_id
        self.forgotten = False


class PictureCache:
    def __init__(self, max_bytes: int) -> None:
        self._pictures: LRUCache[PictureKey, bytes] = LRUCache(maxsize=max_bytes, getsizeof=len)
        self._drawing: set[Drawing] = set()

    def __len__(self) -> int:
        return len(self._pictures)

    def get(self, key: PictureKey) -> bytes | None:
        return self._pictures.get(key)

    @contextmanager
    def drawing(self, prediction_id: str) -> Iterator[Drawing]:
        """Enter before the result is read from the store, keep the picture (``keep``) inside."""
        drawing = Drawing(prediction_id)
        self._drawing.add(drawing)
        try:
            yield drawing
        finally:
            self._drawing.discard(drawing)

    def keep(self, drawing: Drawing, key: PictureKey, png: bytes) -> None:
        """Cache ``png`` unless its result was deleted while it was drawn, or it is larger than the whole cache."""
        if not drawing.forgotten and len(png) <= self._pictures.maxsize:
            self._pictures[key] = png

    def forget(self, prediction_ids: Iterable[str]) -> None:
        """Drop every picture of these results, and keep none that is being drawn of them now."""
        gone = set(prediction_ids)
        for drawing in self._drawing:
            if drawing.prediction_id in gone:
                drawing.forgotten = True
        for key in [key for key in self._pictures if key[0] in gone]:
            self._pictures.pop(key, None)
