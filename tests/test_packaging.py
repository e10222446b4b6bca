"""The wheel: everything under the one name ``camserve``, the weights inside, and ``camserve serve`` working from
a fresh environment in another directory with no settings at all."""

import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from camserve.models.graphs.export import onnx_export_name
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS, load_metadata
from tests.support.photos import CHELSEA
from tests.support.servers import camserve_process

REPOSITORY = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_and_nothing_is_a_link() -> None:
    """pyproject.toml maps folders into ``camserve`` by hand; a subpackage left off the list would be missing
    from the wheel while every test in the checkout still passes."""
    setuptools = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {"camserve.weights"}
    for name, folder in setuptools["package-dir"].items():
        for init in (REPOSITORY / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPOSITORY / folder).parts
            found.add(".".join((name, *relative)))
    assert set(setuptools["packages"]) == found
    tracked = subprocess.run(["git", "ls-files", "-s"], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    assert not [line for line in tracked.stdout.splitlines() if line.startswith("120000")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", out, REPOSITORY],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("camserve-*.whl")
    return built


def test_the_wheel_installs_only_camserve_with_its_weights(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"camserve"}
    for shipped in ("camserve-resnet34.safetensors", "camserve-resnet34.json", "camserve-resnet34.int8.xml"):
        assert f"camserve/weights/{shipped}" in names
    # The CIFAR-10 model's export, of exactly these weights (its name carries their digest): what a torch-free
    # environment serves it from. The default model's would be 85 MB; its int8 graph serves there instead.
    shipped_export = SHIPPED_CIFAR_WEIGHTS.parent.glob(onnx_export_name(SHIPPED_CIFAR_WEIGHTS, "*"))
    assert [name for name in names if name.endswith(".onnx")] == [f"camserve/weights/{p.name}" for p in shipped_export]
    assert "camserve/service/static/index.html" in names


# What the torch extra adds (pyproject.toml): serving runs without any of it, as make serve installs it.
TORCH_EXTRA = ("torch", "torchvision", "torchgen", "functorch", "onnx", "onnxscript", "triton", "nvidia")


def serving_dependencies(folder: Path) -> Path:
    """A folder of links to this environment's installed packages, less the torch extra (and the CUDA libraries
    PyTorch brought) and camserve's own editable install: what ``pip install camserve`` without extras gives, made
    without downloading anything."""
    folder.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        top = entry.name.split("-")[0].split(".")[0].lower()
        if top not in TORCH_EXTRA and not top.startswith(("__editable__", "camserve")):
            (folder / entry.name).symlink_to(entry)
    return folder


def test_pip_install_then_serve_from_another_directory_without_torch(wheel: Path, tmp_path: Path) -> None:
    """A fresh environment gets the wheel, and the serving dependencies from this one (through a site folder of
    links, whose .pth files run, unlike a plain path entry's). No torch, and no ONNX export anywhere but the one
    shipped in the wheel: the default model serves the shipped int8 graph, the CIFAR-10 model its shipped export,
    and ``auto`` says why it skipped the rest."""
    environment = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", environment], check=True, timeout=120)
    python = environment / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    dependencies = serving_dependencies(tmp_path / "dependencies")
    (site_packages / "dependencies.pth").write_text(f"import site; site.addsitedir({str(dependencies)!r})\n")
    assert subprocess.run([python, "-c", "import torch"], capture_output=True, check=False).returncode != 0
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel]
    subprocess.run(pip, check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [python, "-c", "import camserve.models.metadata as m; print(m.SHIPPED_WEIGHTS)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site_packages)
    assert not (site_packages / "models").exists() and not (site_packages / "service").exists()

    # Caches of its own: the session's ONNX cache holds exports other tests made with torch.
    caches = {"CAMSERVE_ONNX_CACHE_DIR": str(tmp_path / "onnx"), "CAMSERVE_RUNTIME_CACHE_DIR": str(tmp_path / "choice")}
    with camserve_process(
        elsewhere / "store.sqlite3", env=caches, command=(str(environment / "bin" / "camserve"),), cwd=elsewhere
    ) as server:
        ready = httpx.get(f"{server.base}/readyz").json()
        models = httpx.get(f"{server.base}/models").json()
        with CHELSEA.open("rb") as photo:
            answer = httpx.post(f"{server.base}/predictions", files={"file": photo}, timeout=60)
        with CHELSEA.open("rb") as photo:
            cifar = httpx.post(
                f"{server.base}/predictions",
                params={"model": load_metadata(SHIPPED_CIFAR_WEIGHTS).name},
                files={"file": photo},
                timeout=60,
            )
    assert ready["model"]["version"] == load_metadata(SHIPPED_WEIGHTS).version
    assert ready["model"]["trained"]
    assert (ready["backend"], ready["precision"]) == ("openvino", "int8")
    skipped = {f"{c['runtime']}:{c['precision']}": c["skipped"] for c in ready["runtime_selection"]["candidates"]}
    assert "torch is not installed" in skipped["torch:fp32"]
    assert "needs torch" in skipped["onnxruntime:fp32"]
    assert len(models["models"]) == 2, models
    assert answer.status_code == 201
    assert answer.json()["label"] == "cat"
    assert cifar.status_code == 201, cifar.text


# What the torch-free CPU image leaves out (Dockerfile, scripts/image_artifacts.py): the extras, and torch.
NOT_IN_THE_CPU_IMAGE = ("torch", "torchvision", "scipy", "matplotlib", "nncf", "timm", "pytorch_grad_cam", "boto3")
_WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (left out, as in the CPU image)")
        return None

sys.meta_path.insert(0, Absent())
import camserve.cli
import camserve.service.app
"""


def test_the_command_line_and_the_app_import_without_torch_or_the_extras() -> None:
    """Every ``camserve`` command imports all CLI modules at start-up: one module-level import of a training
    library (SciPy, once) stops the CPU image from starting at all."""
    code = _WITHOUT.format(absent=set(NOT_IN_THE_CPU_IMAGE))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
