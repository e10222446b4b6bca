"""The JSON shapes of the API, so OpenAPI documents exactly what clients get."""

from typing import Any

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str = Field(description="The model that answered: the name ?model= picks it by.")
    version: str
    trained: bool = Field(description="False for weights marked untrained: their answers mean nothing.")


class ServedModelInfo(ModelInfo):
    """One model this service serves: its checkpoint's metadata, and how it runs here."""

    default: bool = Field(description="True for the model that answers when a request names none.")
    ready: bool = Field(description="Loaded and warmed up.")
    architecture: str
    classes: list[str] = Field(description="Its classes, in the order of its class maps.")
    input_size: int = Field(description="The side, in pixels, a photo is resized to before the forward.")
    mean: list[float] = Field(description="Per-channel (RGB) mean the input is normalised by.")
    std: list[float] = Field(description="Per-channel (RGB) standard deviation the input is normalised by.")
    temperature: float = Field(description="Temperature scaling applied to every answer (1.0: none).")
    runtime: str
    precision: str
    device: str
    runtime_source: str = Field(description="How runtime and precision were chosen: as in /readyz's runtime_selection.")
    details: dict[str, Any] = Field(description="The checkpoint's own record: how and on what it was trained.")


class ModelList(BaseModel):
    default: str = Field(description="The name of the model that answers when a request names none.")
    models: list[ServedModelInfo]


class Links(BaseModel):
    self: str
    overlay: str
    heatmap: str

    @classmethod
    def for_prediction(cls, prediction_id: str) -> "Links":
        """Where a stored result and its pictures are served."""
        base = f"/predictions/{prediction_id}"
        return cls(self=base, overlay=f"{base}/overlay.png", heatmap=f"{base}/heatmap.png")


class Timings(BaseModel):
    decode_ms: float = Field(description="Decode and preprocess.")
    inference_ms: float = Field(description="Waiting for and running the forward pass.")
    zoom_ms: float = Field(
        0.0, description="CAM-guided zoom: deciding on the crop, and cutting and looking at it (0 when zoom is off)."
    )
    total_ms: float = Field(description="From the upload read to the result, before it is stored.")


class Box(BaseModel):
    """A region of the photo in its pixels (as uploaded, after EXIF orientation); right and bottom exclusive."""

    left: int = Field(ge=0)
    top: int = Field(ge=0)
    right: int = Field(ge=1)
    bottom: int = Field(ge=1)


class Zoom(BaseModel):
    """CAM-guided zoom: where the heat was concentrated, the model looked again at that region of the photo."""

    requested: bool = Field(False, description="Whether zoom was on for this photo (?zoom=, default CAMSERVE_ZOOM).")
    used: bool = Field(False, description="Whether the map was concentrated enough for the crop to be looked at.")
    box: Box | None = Field(None, description="The crop, in photo pixels; null when not used.")
    photo_probabilities: dict[str, float] | None = Field(
        None,
        description="The whole photo's own answer (null when not used). The maps, and so the heatmap, are the whole "
        "photo's, weighted by these.",
    )
    crop_probabilities: dict[str, float] | None = Field(None, description="The crop's answer; null when not used.")


class Classification(BaseModel):
    """What the model says about one photo: the same for the API and ``camserve predict --json``."""

    label: str
    confidence: float = Field(ge=0, le=1, description="The probability of ``label``.")
    probabilities: dict[str, float]
    width: int = Field(description="Width of the photo as uploaded, after EXIF orientation.")
    height: int = Field(description="Height of the photo as uploaded, after EXIF orientation.")
    model: ModelInfo
    tta: bool = Field(False, description="Whether the photo's mirror image was averaged in (serve-time TTA).")
    zoom: Zoom = Field(
        default_factory=Zoom,
        description="CAM-guided zoom; when used, probabilities combine the whole photo's answer and the crop's.",
    )


class PredictionResult(Classification):
    id: str
    created_at: str
    expires_at: str | None = Field(
        None, description="When the result, photo included, is deleted (CAMSERVE_RETENTION_S); null: until evicted."
    )
    links: Links
    timings: Timings


class Grid(BaseModel):
    """The class maps' cells and where they lie on the photo (as uploaded, after EXIF orientation)."""

    height: int = Field(description="Rows of cells.")
    width: int = Field(description="Columns of cells.")
    cell_height: float = Field(
        description="Photo pixels per row: row i covers y in [i * cell_height, (i + 1) * cell_height)."
    )
    cell_width: float = Field(
        description="Photo pixels per column: column j covers x in [j * cell_width, (j + 1) * cell_width)."
    )


class ClassMaps(BaseModel):
    """The maps behind the pictures, as numbers. The overlay stretches ``cam`` over the photo bilinearly, each
    cell's value at the centre of the region it covers."""

    classes: list[str]
    class_maps: list[list[list[float]]] = Field(description="C x height x width, as the network produced them.")
    cam: list[list[float]] = Field(
        description="height x width: ReLU of each class map weighted by its probability, summed, min-max scaled to "
        "[0, 1] (all zeros when flat): exactly what the overlay colours."
    )
    grid: Grid


class UnstoredResult(Classification):
    """``POST /predictions?store=false``: everything in one answer, and nothing kept on the server."""

    created_at: str
    overlay_png: str = Field(description="The overlay, drawn with the request's alpha, colormap and class: base64 PNG.")
    timings: Timings


class Storage(BaseModel):
    store: str = Field(description="Where results live: sqlite, postgresql, or postgresql+s3 (photos in a bucket).")
    reachable: bool = Field(description="Whether the store answered just now; while false, /readyz is 503.")
    writable: bool = Field(
        description="Whether the store can write: false from a write that failed (a full disk, a read-only file "
        "system, file or database) until a write as large succeeds; readiness writes for real at most every 2 s. "
        "While false, /readyz is 503.",
    )
    problem: str | None = Field(None, description="Why the store cannot be reached or cannot write, while so.")
    keeps_photos: bool = Field(description="False: the server keeps nothing (POSTs answer as with store=false).")
    retention_s: float | None = Field(description="Seconds a result is kept; null: until the store's size bound.")


class ErrorBody(BaseModel):
    detail: str


class RuntimeCandidate(BaseModel):
    runtime: str
    precision: str
    single_ms: float | None = Field(description="Median forward of one photo on this machine, in ms.")
    batch_ms_per_photo: float | None = Field(description="Median forward of a full batch, per photo, in ms.")
    batch_size: int
    skipped: str | None = Field(description="Why this candidate was not timed (null when it was).")


class RuntimeSelection(BaseModel):
    source: str = Field(
        description="setting: CAMSERVE_BACKEND named it; cuda: PyTorch on CUDA; measured: timed at this start; "
        "cached: timed at an earlier start on this machine, weights and libraries; given: loaded by the caller."
    )
    fastest_single: str | None = Field(description="runtime:precision fastest for one photo (measured choices).")
    fastest_batch: str | None = Field(description="runtime:precision fastest per photo in full batches: served.")
    candidates: list[RuntimeCandidate]


class Readiness(BaseModel):
    ready: bool
    model: ModelInfo
    backend: str
    device: str
    precision: str
    inference_lanes: int = Field(
        description="Full batches forwarded side by side under load (CAMSERVE_INFERENCE_LANES); 1: one at a time."
    )
    batch_max_size: int = Field(
        description="Most photos in one forward: CAMSERVE_BATCH_MAX_SIZE, or half of it where the lanes were "
        "measured to forward half batches as fast."
    )
    runtime_selection: RuntimeSelection
    storage: Storage
    warnings: list[str]
