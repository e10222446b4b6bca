"""Settings, read from ``CAMSERVE_*`` environment variables; the defaults are the documented ones.

``ModelSettings`` is what every command needs to load and feed a model; ``Settings`` adds the web service's
(stores, limits, connections). Offline commands read only the first, so a bad store or blob URL cannot stop
``camserve train``."""

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from camserve.models.inference.predictor import DeviceChoice, PrecisionChoice
from camserve.models.metadata import SHIPPED_CIFAR_WEIGHTS, SHIPPED_WEIGHTS
from camserve.models.runtimes import AUTO, RuntimeRequest, check_runtime_name, runtime_names
from camserve.service.blobs import check_blob_url
from camserve.service.container_memory import memory_limit_bytes
from camserve.service.stores import check_store_url

MIB = 1024 * 1024
# What the derived memory budget leaves outside it: the server at rest with its two models (about 290 MiB), and
# what the budget does not count: the uploads in flight (32 large photos are over 100 MiB), answers being sent
# and the allocator's slack. bench/memory.py's burst peaked 1231 MiB at 1536 MiB with 512 MiB here.
MEMORY_AT_REST_BYTES = 640 * MIB
MIN_MEMORY_BUDGET_BYTES = 64 * MIB


class ModelSettings(BaseSettings):
    """Which model, where it runs, and the limits of what it reads: all an offline command needs."""

    model_config = SettingsConfigDict(env_prefix="CAMSERVE_", frozen=True)

    device: DeviceChoice = Field("auto", description="'auto' picks CUDA when available, else CPU.")
    precision: PrecisionChoice = Field(
        "auto",
        description="'auto': on the CPU the fastest measured of fp32 and the reduced precisions the accuracy gate "
        "passed (int8, bf16); bf16/fp16 on CUDA.",
    )
    backend: str = Field(
        AUTO,
        description="'auto': on the CPU the runtime measured fastest on this machine at start-up (cached), "
        "PyTorch on CUDA. Or a runtime by name: " + ", ".join(runtime_names()) + ".",
    )
    onnx_cache_dir: Path = Field(Path("var/onnx"), description="Where ONNX exports of checkpoints are kept.")
    runtime_cache_dir: Path = Field(
        Path("var/runtime-choice"), description="Where CAMSERVE_BACKEND=auto keeps its timings of this machine."
    )
    weights_path: Path = Field(
        SHIPPED_WEIGHTS, description="The default model: a safetensors file; its JSON lies beside it."
    )
    max_pixels: int = Field(50_000_000, ge=1, description="Largest accepted photo, width x height.")
    batch_max_size: int = Field(
        8,
        ge=1,
        le=256,
        description="Most photos in one forward pass; 1 turns batching off. Inference lanes measured to forward half "
        "batches as fast take half (CAMSERVE_INFERENCE_LANES).",
    )

    _known_runtime = field_validator("backend")(check_runtime_name)

    def runtime_request(self) -> RuntimeRequest:
        """What these settings ask of the runtime that will serve the default model."""
        return RuntimeRequest(
            self.weights_path,
            self.device,
            self.precision,
            self.onnx_cache_dir,
            batch_size=self.batch_max_size,
            choice_cache_dir=self.runtime_cache_dir,
        )


class Settings(ModelSettings):
    """The model's settings and the web service's: what ``camserve serve`` reads."""

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    extra_weights: list[Path] = Field(
        default_factory=lambda: [SHIPPED_CIFAR_WEIGHTS],
        description="More models served beside the default, picked per request with ?model=NAME (GET /models "
        'lists them): a JSON list of safetensors files, e.g. ["a.safetensors"]; [] serves the default alone. '
        "Each runs on the runtime CAMSERVE_BACKEND chooses for it, at the precision 'auto' allows it (fp32 unless "
        "its own accuracy-gate record passed a reduced one): CAMSERVE_PRECISION is the default model's.",
    )
    store_path: Path = Field(
        Path("var/camserve.sqlite3"), description="SQLite file holding results, when store_url is unset."
    )
    store_url: str | None = Field(
        None,
        description="Where results live: sqlite:///relative/path, sqlite:////absolute/path, or "
        "postgresql://user:password@host:5432/db for several replicas. Unset: SQLite at store_path.",
    )
    blob_url: str | None = Field(
        None,
        description="s3://bucket/prefix: photo bytes in this bucket (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_REGION configure it); unset: beside the results. Needs a postgresql store.",
    )
    store_max_bytes: int = Field(1024 * MIB, ge=MIB, description="Total size of stored results before eviction.")
    retention_s: float | None = Field(
        None, gt=0, description="Delete results this many seconds after they were made; unset: keep until evicted."
    )
    store_photos: bool = Field(
        True, description="False: keep nothing; every POST answers as with ?store=false (the overlay inline)."
    )
    max_upload_bytes: int = Field(20 * MIB, ge=1024, description="Largest accepted upload, in bytes.")
    render_cache_bytes: int = Field(256 * MIB, ge=0, description="Memory for rendered PNGs kept for reuse.")
    memory_budget_bytes: int | None = Field(
        None,
        ge=MIB,
        description="Bytes that full-size photos and pictures may hold at once: decoding for the model and for a "
        "zoom's crop, and drawing an overlay or heatmap (colour, blend, PNG, inline base64). Past it a request waits "
        "up to memory_wait_s, then gets 503; one that needs more than all of it gets 413. Unset: the container's "
        "memory limit (cgroup v2 memory.max or v1 memory.limit_in_bytes; the machine's memory without one), less "
        "640 MiB for the server at rest and what the budget does not count (uploads, answers being sent), less "
        "render_cache_bytes, and at least 64 MiB.",
    )
    memory_wait_s: float = Field(
        10.0, gt=0, description="Longest a request waits for the memory budget before it is answered 503."
    )
    png_compression: int = Field(1, ge=0, le=9, description="zlib level for rendered PNGs (speed vs size).")
    tta: bool = Field(
        False,
        description="Average each photo with its mirror image (serve-time TTA; ?tta= overrides): two views per "
        "photo through the model. Its measured gain and cost are in the model card.",
    )
    zoom: bool = Field(
        False,
        description="CAM-guided zoom (?zoom= overrides): where the heatmap is concentrated, look again at that region "
        "of the full-resolution photo and combine the answers; a second forward for those photos. Its measured gain "
        "and cost are in the model card.",
    )
    batch_max_wait_ms: float = Field(
        2.0, ge=0.0, le=1000.0, description="Longest a batch waits for photos still being decoded to join it."
    )
    queue_max: int = Field(128, ge=1, description="Photos waiting for the model before new ones get 503.")
    inference_lanes: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto",
        description="Full batches forwarded side by side under load, each in a single-threaded lane (OpenVINO's "
        "streams; other runtimes run one at a time). 'auto': on the first start, full batches are timed both ways "
        "on this machine and lanes (one per usable core) serve only where they were faster (cached), on half "
        "batches where those were as fast; 1: one forward at a time on every core. A batch smaller than full "
        "always runs alone on every core.",
    )
    keep_alive_s: int = Field(
        75, gt=0, description="Idle keep-alive connections are closed after this; longer than clients' idle time."
    )
    max_head_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request head (request line and headers); past it, 431 and close."
    )
    head_timeout_s: float = Field(
        10.0, gt=0, description="A request head must arrive within this, from the connection or its first byte."
    )
    body_min_bytes_per_s: float = Field(
        1024.0, ge=0, description="Slowest average upload accepted once body_grace_s have passed; slower, 408."
    )
    body_grace_s: float = Field(10.0, gt=0, description="How long a body may take before its rate is checked.")
    max_connections: int = Field(
        1000, ge=1, description="Open connections; past this a new one gets 503 at once, established ones go on."
    )
    api_key: SecretStr | None = Field(None, description="If set, POST requires it in the X-API-Key header.")
    cors_origins: list[str] = Field(
        default_factory=list, description='Origins allowed to call the API from browsers, as JSON: ["https://a.b"].'
    )

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, url: str | None) -> str | None:
        return None if url is None else check_store_url(url)

    @field_validator("blob_url")
    @classmethod
    def _known_blob_store(cls, url: str | None) -> str | None:
        return None if url is None else check_blob_url(url)

    def store_location(self) -> str:
        """The store's URL: ``store_url``, or the SQLite file at ``store_path``."""
        return self.store_url or f"sqlite:///{self.store_path}"

    def memory_budget(self) -> int:
        """``memory_budget_bytes``, or the default derived from this process's memory limit (see its description)."""
        if self.memory_budget_bytes is not None:
            return self.memory_budget_bytes
        derived = memory_limit_bytes() - MEMORY_AT_REST_BYTES - self.render_cache_bytes
        return max(derived, MIN_MEMORY_BUDGET_BYTES)

    def runtime_requests(self) -> list[RuntimeRequest]:
        """One per served model, the default first. An extra model's precision is ``auto``: a precision named for
        the default model may not exist, or not have passed the accuracy gate, for another checkpoint."""
        default = replace(self.runtime_request(), lanes=self.inference_lanes)
        return [default, *(replace(default, weights_path=path, precision="auto") for path in self.extra_weights)]

    @model_validator(mode="after")
    def _store_holds_uploads(self) -> "Settings":
        """Eviction never removes the result just stored, so the bound must leave room for the largest one."""
        if self.store_max_bytes < 2 * self.max_upload_bytes:
            raise ValueError(
                f"store_max_bytes ({self.store_max_bytes:,}) must be at least twice max_upload_bytes "
                f"({self.max_upload_bytes:,})"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
