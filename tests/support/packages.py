"""Stand-ins for what an environment without the torch extra (make serve, the CPU image) looks like."""

from importlib.metadata import PackageNotFoundError


def torch_not_installed(name: str) -> str:
    """``importlib.metadata.version`` where torch is not installed (patched over the export's ``version``)."""
    raise PackageNotFoundError(name)
