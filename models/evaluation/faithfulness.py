"""Is the heatmap where the model looked? Faithfulness of saliency maps, measured on the model itself.

For each photo and each method (the lesson's CAM, Grad-CAM and Grad-CAM++ from the ``grad-cam`` package on
the same last convolutional features, two variants of the CAM from the same forward (the contrastive map and
the CAM squared, ``camserve.models.inference.map_variants``), and two maps that know nothing: noise at the
maps' own resolution and a centred blob):

- deletion and insertion curves (Petsiuk et al., 2018): the predicted class's probability as the most salient
  pixels are removed (set to the data set's mean colour) or added back onto a blurred photo, most salient
  first; their areas (lower is better for deletion, higher for insertion);
- average drop and increase in confidence (Chattopadhay et al., 2018): the probability when the photo is
  multiplied by its map, against the photo's own;
- a sanity check (Adebayo et al., 2018): each map's rank correlation with itself as the network's weights are
  randomised layer by layer from the top; a map that stays the same is not explaining this model.

Everything happens at the model's input size, on the photo squashed exactly as the service squashes it.
The curves' forwards run on the serving runtime; Grad-CAM needs gradients, so it runs on PyTorch.
"""

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from scipy.stats import spearmanr
from torch import nn

from camserve.models.dataset import ImageFolder
from camserve.models.inference.cam import normalise, upsample, weighted_cam
from camserve.models.inference.map_variants import centre_blob, contrastive_cam, sharpened
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import decode_for_model, squash, standardise
from camserve.models.metadata import ModelMetadata
from camserve.models.network import CamNetwork

METHODS = ("cam", "gradcam", "gradcam++", "contrastive", "squared", "random", "centre")
EXPLAINING_METHODS = ("cam", "gradcam", "gradcam++", "contrastive", "squared")  # the ones that look at the model
STEPS = 16
BLUR_SIGMA_FRACTION = 0.1  # the insertion curve's starting photo: blurred with sigma = this x the input size

Saliency = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class _Logits(nn.Module):
    """The CAM network up to its logits (each class map's mean): what Grad-CAM differentiates."""

    def __init__(self, network: CamNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        net = self.network
        logits: torch.Tensor = net.flatten(net.pool(net.class_maps(net.body(images))))
        return logits


@dataclass
class Photos:
    """The photos at the model's input size: 0..255 pixels (N, 3, S, S), their model inputs, and the class the
    served model predicts for each (what every map is asked to explain)."""

    pixels: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray


def load_photos(folder: ImageFolder, indices: Sequence[int], predictor: Predictor, max_pixels: int) -> Photos:
    metadata = predictor.metadata
    size = metadata.input_size
    pixels = np.stack(
        [
            np.asarray(squash(decode_for_model(folder.files[i].read_bytes(), metadata, max_pixels).image, size))
            .transpose(2, 0, 1)
            .astype(np.float32)
            for i in indices
        ]
    )
    inputs = standardise(pixels, metadata)
    probabilities = np.stack([p.probabilities for p in predict_in_batches(predictor, inputs)])
    targets = probabilities.argmax(axis=1)
    return Photos(pixels, inputs, targets, probabilities[np.arange(len(targets)), targets])


def predict_in_batches(predictor: Predictor, inputs: np.ndarray, batch_size: int = 32) -> list[Prediction]:
    return [
        p for start in range(0, len(inputs), batch_size) for p in predictor.predict(inputs[start : start + batch_size])
    ]


class Explainers:
    """Each method's maps at input resolution, (N, S, S) in [0, 1], for the photos' target classes."""

    def __init__(self, network: CamNetwork, metadata: ModelMetadata, seed: int = 0) -> None:
        self.network = network.eval()
        self.size = metadata.input_size
        self.generator = np.random.default_rng(seed)
        self.seconds: dict[str, float] = dict.fromkeys(METHODS, 0.0)
        self.photos_seen: dict[str, int] = dict.fromkeys(METHODS, 0)

    def __call__(self, method: str, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        maps: np.ndarray = getattr(self, "_" + method.replace("++", "_plus_plus"))(inputs, targets)
        self.seconds[method] += time.perf_counter() - started
        self.photos_seen[method] += len(inputs)
        clipped: np.ndarray = np.clip(maps, 0.0, 1.0).astype(np.float32)
        return clipped

    def cost_ms(self) -> dict[str, float]:
        """Wall time per photo each method took here (CAM: its share of a PyTorch forward, for comparison)."""
        return {m: round(1000 * self.seconds[m] / max(1, self.photos_seen[m]), 2) for m in METHODS}

    def _cam(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self._from_class_maps(weighted_cam, inputs)

    def _contrastive(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self._from_class_maps(contrastive_cam, inputs)

    def _squared(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The CAM's pixels in the same order: the curves match the CAM's, the average drop and increase not."""
        return sharpened(self._cam(inputs, targets))

    def _from_class_maps(self, cam: Callable[[np.ndarray, np.ndarray], np.ndarray], inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            log_probs, maps = self.network.forward_with_maps(torch.from_numpy(inputs))
        probabilities, class_maps = log_probs.exp().numpy(), maps.numpy()
        pairs = zip(class_maps, probabilities, strict=True)
        return np.stack([upsample(normalise(cam(m, p)), self.size, self.size) for m, p in pairs])

    def _grad(self, kind: type[BaseCAM], inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        with kind(model=_Logits(self.network), target_layers=[self.network.body]) as explainer:
            maps: np.ndarray = explainer(
                input_tensor=torch.from_numpy(inputs), targets=[ClassifierOutputTarget(int(t)) for t in targets]
            )
        return maps

    def _gradcam(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self._grad(GradCAM, inputs, targets)

    def _gradcam_plus_plus(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self._grad(GradCAMPlusPlus, inputs, targets)

    def _random(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Noise at the class maps' own resolution, stretched like them: a map of the same kind that knows
        nothing. (Noise drawn per pixel instead scatters the deleted pixels into a salt-and-pepper pattern
        that no photo has, and knocks the probability down faster than any map: a test of the model's
        robustness to noise, not of a map.)"""
        height, width = self._grid()
        cells = self.generator.random((len(inputs), height, width)).astype(np.float32)
        return np.stack([upsample(c, self.size, self.size) for c in cells])

    def _grid(self) -> tuple[int, int]:
        with torch.inference_mode():
            _, maps = self.network.forward_with_maps(torch.zeros(1, 3, self.size, self.size))
        return int(maps.shape[-2]), int(maps.shape[-1])

    def _centre(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return np.repeat(centre_blob(self.size, self.size)[None], len(inputs), axis=0)


def curve_inputs(pixels: np.ndarray, saliency: np.ndarray, metadata: ModelMetadata) -> tuple[np.ndarray, np.ndarray]:
    """One photo's deletion and insertion sequences, STEPS + 1 model inputs each, most salient pixels first."""
    channels, height, width = pixels.shape
    order = np.argsort(-saliency.ravel(), kind="stable")
    mean = np.asarray(metadata.mean, dtype=np.float32)[:, None] * 255.0
    sigma = BLUR_SIGMA_FRACTION * width
    blurred = np.stack([cv2.GaussianBlur(channel, (0, 0), sigma) for channel in pixels])
    flat, flat_blurred = pixels.reshape(channels, -1), blurred.reshape(channels, -1)
    deletion, insertion = [], []
    for step in range(STEPS + 1):
        chosen = order[: round(step / STEPS * height * width)]
        removed = flat.copy()
        removed[:, chosen] = mean
        inserted = flat_blurred.copy()
        inserted[:, chosen] = flat[:, chosen]
        deletion.append(removed.reshape(pixels.shape))
        insertion.append(inserted.reshape(pixels.shape))
    return standardise(np.stack(deletion), metadata), standardise(np.stack(insertion), metadata)


def area(curve: np.ndarray) -> float:
    """Area under a curve sampled at STEPS + 1 even fractions of the pixels (trapezoids)."""
    return float(np.trapezoid(curve, dx=1.0 / STEPS))


@dataclass
class MethodScores:
    deletion: list[np.ndarray] = field(default_factory=list)
    insertion: list[np.ndarray] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)
    increases: list[bool] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        deletion, insertion = np.mean(self.deletion, axis=0), np.mean(self.insertion, axis=0)
        return {
            "deletion_auc": round(float(np.mean([area(c) for c in self.deletion])), 4),
            "insertion_auc": round(float(np.mean([area(c) for c in self.insertion])), 4),
            "average_drop_pct": round(100 * float(np.mean(self.drops)), 2),
            "increase_in_confidence_pct": round(100 * float(np.mean(self.increases)), 2),
            "deletion_curve": [round(float(v), 4) for v in deletion],
            "insertion_curve": [round(float(v), 4) for v in insertion],
        }


def score_methods(
    photos: Photos,
    explainers: Explainers,
    predictor: Predictor,
    methods: Sequence[str] = METHODS,
    batch_size: int = 16,
) -> dict[str, dict[str, Any]]:
    """Deletion, insertion, average drop and increase for each method, over all photos."""
    metadata = predictor.metadata
    scores = {method: MethodScores() for method in methods}
    for start in range(0, len(photos.targets), batch_size):
        chunk = slice(start, start + batch_size)
        inputs, targets, pixels = photos.inputs[chunk], photos.targets[chunk], photos.pixels[chunk]
        for method in methods:
            maps = explainers(method, inputs, targets)
            explained = standardise(pixels * maps[:, None], metadata)
            masked = [p.probabilities[t] for p, t in zip(predictor.predict(explained), targets, strict=True)]
            for index, (saliency, target) in enumerate(zip(maps, targets, strict=True)):
                deletion, insertion = curve_inputs(pixels[index], saliency, metadata)
                results = predictor.predict(np.concatenate([deletion, insertion]))
                probabilities = np.array([r.probabilities[target] for r in results])
                scores[method].deletion.append(probabilities[: STEPS + 1])
                scores[method].insertion.append(probabilities[STEPS + 1 :])
                original = photos.probabilities[start + index]
                scores[method].drops.append(max(0.0, original - masked[index]) / original)
                scores[method].increases.append(bool(masked[index] > original))
    return {method: scores[method].summary() for method in methods}


def randomisation_stages(network: CamNetwork) -> list[tuple[str, nn.Module]]:
    """The network's layers with weights, from the top: the class-map conv, then the body's children last to
    first (activations and pooling, having no weights, are not stages)."""
    body = [(f"body.{name}", module) for name, module in network.body.named_children() if _has_weights(module)]
    return [("class_maps", network.class_maps), *reversed(body)]


def _has_weights(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def sanity_check(network: CamNetwork, photos: Photos, metadata: ModelMetadata, seed: int = 0) -> dict[str, Any]:
    """Mean Spearman rank correlation of each explaining method's maps with its own maps on the trained
    network, after randomising the layers cumulatively from the top (Adebayo et al.'s cascading test)."""
    network = copy.deepcopy(network).eval()  # the caller's network stays trained
    explainers = Explainers(network, metadata)
    reference = {m: explainers(m, photos.inputs, photos.targets) for m in EXPLAINING_METHODS}
    generator = torch.Generator().manual_seed(seed)
    stages = []
    for name, module in randomisation_stages(network):
        _randomise(module, generator)
        maps = {m: explainers(m, photos.inputs, photos.targets) for m in EXPLAINING_METHODS}
        stages.append(
            {
                "randomised_through": name,
                **{m: round(_mean_rank_correlation(reference[m], maps[m]), 4) for m in EXPLAINING_METHODS},
            }
        )
    return {"photos": len(photos.targets), "stages": stages}


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.ndim > 1:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)


def _mean_rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    values = []
    for a, b in zip(first, second, strict=True):
        if np.ptp(a) == 0 or np.ptp(b) == 0:  # a flat map ranks nothing: no agreement
            values.append(0.0)
            continue
        values.append(float(spearmanr(a.ravel(), b.ravel()).statistic))
    return float(np.mean(values))


def serving_forward_ms(predictor: Predictor, photos: Photos, reps: int = 5) -> float:
    """The served runtime's forward for one photo: the lesson's CAM costs nothing beyond it."""
    single = photos.inputs[:1]
    predictor.predict(single)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        predictor.predict(single)
        times.append(time.perf_counter() - started)
    return round(1000 * float(np.median(times)), 2)


def evaluate_maps(
    predictor: Predictor,
    network: CamNetwork,
    folder: ImageFolder,
    indices: Sequence[int],
    max_pixels: int,
    sanity_photos: int,
) -> dict[str, Any]:
    """Every figure of the module docstring, for the photos ``indices`` of ``folder``."""
    photos = load_photos(folder, indices, predictor, max_pixels)
    explainers = Explainers(network, predictor.metadata)
    methods = score_methods(photos, explainers, predictor)
    subset = Photos(
        *(array[:sanity_photos] for array in (photos.pixels, photos.inputs, photos.targets, photos.probabilities))
    )
    return {
        "photos": len(indices),
        "input_size": predictor.metadata.input_size,
        "steps": STEPS,
        "runtime": f"{predictor.runtime} {predictor.precision}",
        "methods": methods,
        "sanity": sanity_check(network, subset, predictor.metadata),
        "cost_ms_per_photo": {
            "serving_forward": serving_forward_ms(predictor, photos),
            **{f"{m}_pytorch": ms for m, ms in explainers.cost_ms().items() if m in EXPLAINING_METHODS},
        },
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['photos']} photos at {report['input_size']} px, curves of {report['steps']} steps "
        f"on {report['runtime']}",
        "",
        f"{'method':<11}{'deletion':>10}{'insertion':>11}{'avg drop %':>12}{'increase %':>12}",
    ]
    for method, scores in report["methods"].items():
        lines.append(
            f"{method:<11}{scores['deletion_auc']:>10.4f}{scores['insertion_auc']:>11.4f}"
            f"{scores['average_drop_pct']:>12.2f}{scores['increase_in_confidence_pct']:>12.2f}"
        )
    lines += ["", f"sanity check on {report['sanity']['photos']} photos: rank correlation with the trained maps"]
    lines.append(f"{'randomised through':<22}" + "".join(f"{m:>11}" for m in EXPLAINING_METHODS))
    for stage in report["sanity"]["stages"]:
        lines.append(f"{stage['randomised_through']:<22}" + "".join(f"{stage[m]:>11.4f}" for m in EXPLAINING_METHODS))
    cost = report["cost_ms_per_photo"]
    lines += ["", "cost per photo (ms): " + ", ".join(f"{name} {ms}" for name, ms in cost.items())]
    return "\n".join(lines)


def plot_curves(report: dict[str, Any], png_path: Any) -> None:
    """Mean deletion and insertion curves, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    fractions = np.linspace(0.0, 1.0, report["steps"] + 1)
    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4))
    for name, curve_key, ax in (
        ("Deletion (lower is better)", "deletion", axes[0]),
        ("Insertion (higher is better)", "insertion", axes[1]),
    ):
        for method, scores in report["methods"].items():
            auc = scores[f"{curve_key}_auc"]
            ax.plot(fractions, scores[f"{curve_key}_curve"], label=f"{method} ({auc:.3f})")
        ax.set(title=name, xlabel="fraction of pixels, most salient first", ylabel="probability of the predicted class")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    pyplot.close(figure)
