"""The layers: camserve.models imports neither the service nor the command line, and the service does not
import the command line. Read from the source, so a lazy import inside a function counts too."""

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
ABOVE = {
    "models": ("camserve.service", "camserve.cli"),
    "service": ("camserve.cli",),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_no_module_imports_from_a_layer_above_it(layer: str) -> None:
    upward = {
        f"{path.relative_to(REPOSITORY)}: {name}"
        for path in sorted((REPOSITORY / layer).rglob("*.py"))
        for name in imported_modules(path)
        if name.startswith(ABOVE[layer]) or name.split(".")[0] in {"models", "service"}
    }
    assert not upward


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from camserve.service.app import create_app\n    return create_app\n")
    assert imported_modules(module) == {"camserve.service.app"}
