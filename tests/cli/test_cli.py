"""The ``camserve`` command: offline predictions, clear start-up failures, and a real served process."""

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from camserve.cli import main
from tests.support.photos import CHELSEA
from tests.support.servers import serve_camserve


def test_predict_json_and_overlays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(CHELSEA), "--json", "--overlay-dir", str(tmp_path / "out")]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["label"] in {"cat", "dog"}
    assert (result["width"], result["height"]) == (451, 300)
    assert Image.open(result["overlay"]).size == (451, 300)


def test_predict_reports_bad_photos_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    assert main(["predict", str(CHELSEA), str(text)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{CHELSEA}: ")
    assert f"{text}: error: not an image" in captured.err


@pytest.mark.parametrize("command", [["serve"], ["predict", str(CHELSEA)]])
def test_missing_weights_fail_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("CAMSERVE_WEIGHTS_PATH", str(tmp_path / "gone.safetensors"))
    monkeypatch.setenv("CAMSERVE_STORE_PATH", str(tmp_path / "store.sqlite3"))  # serve opens its store first
    assert main(command) == 2
    assert capsys.readouterr().err == f"camserve: error: {tmp_path / 'gone.safetensors'}: weights file not found\n"


def test_a_command_that_needs_torch_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """make serve installs no torch; camserve train there says what is missing and how to add it, in one line."""
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ModuleNotFoundError, as where it is absent
    assert main(["train", "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "camserve: error: torch is not installed; this environment has what serving needs only: "
        "pip install -e '.[train]' adds PyTorch and the training tools"
    ]


def test_invalid_settings_are_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CAMSERVE_PORT", "not-a-port")
    assert main(["serve"]) == 2
    assert "invalid CAMSERVE_* settings" in capsys.readouterr().err


def test_offline_commands_read_only_the_model_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service setting that is wrong (here a blob store with no scheme it knows) stops ``serve``, and nothing
    that never opens the service."""
    monkeypatch.setenv("CAMSERVE_BLOB_URL", "ftp://nowhere")
    assert main(["predict", str(CHELSEA)]) == 0
    assert capsys.readouterr().out.startswith(f"{CHELSEA}: ")
    assert main(["serve"]) == 2
    assert "invalid CAMSERVE_* settings" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served") / "store.sqlite3"


@pytest.fixture(scope="module")
def served(served_store: Path) -> Iterator[str]:
    """One ``camserve serve`` for the tests that read it: a start is the most of their time."""
    with serve_camserve(served_store) as base:
        yield base


def test_serve_answers_like_the_readme_says(served: str) -> None:
    with CHELSEA.open("rb") as photo:
        response = httpx.post(f"{served}/predictions", files={"file": photo})
    assert response.status_code == 201
    overlay = httpx.get(served + response.json()["links"]["overlay"])
    assert overlay.status_code == 200
    assert overlay.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(overlay.content)).size == (451, 300)


def test_serve_logs_what_serves_and_why(served: str, served_store: Path) -> None:
    """The runtime choice and its figures reach the log, not only /readyz and /metrics."""
    log = served_store.with_suffix(".log").read_text()
    models = httpx.get(f"{served}/models").json()["models"]
    assert [m["name"] for m in models] == ["camserve-resnet34", "camserve-lesson7-resnet2"]
    for model in models:
        (line,) = [line for line in log.splitlines() if f"camserve: serving {model['name']} {model['version']}" in line]
        assert f"runtime chosen: {model['runtime']}:{model['precision']} ({model['runtime_source']})" in line
    ready = httpx.get(f"{served}/readyz").json()
    assert (ready["backend"], ready["precision"]) == (models[0]["runtime"], models[0]["precision"])


# camserve train and camserve evaluate
