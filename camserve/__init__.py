"""camserve: a class-activation-map web service. Cat or dog, and where the model looked.

The installed package has three layers, each importing only from the ones below it:

- ``camserve.models``: the network and checkpoints; inference (decoding, the CAM maths), runtimes, their
  selection, graphs, evaluation, training;
- ``camserve.service``: the FastAPI application (HTTP, batching, store, metrics);
- ``camserve.cli``: the ``camserve`` command, which drives both.

``camserve.weights`` holds the committed checkpoint. In the repository ``models/``, ``service/`` and
``weights/`` are top-level folders that ``pyproject.toml`` maps into ``camserve`` (``package-dir``), so the
checkout and the wheel import the same names.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("camserve")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
