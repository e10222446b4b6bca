"""Waiting for something a server does in its own time: a condition polled until it holds or time runs out."""

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether ``condition`` holds within ``timeout_s``, polled every 50 ms; meant for ``assert wait_for(...)``."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()
