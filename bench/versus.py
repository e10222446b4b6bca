"""Two checkpoints on the same photos: is the new one better, and by more than noise?

Each runs on the PyTorch fp32 reference at its own input size and temperature, through ``camserve
evaluate``'s own evaluation, on the validation photos (both checkpoints must record the same split) and on
the full-resolution stand-ins. For each set: each checkpoint's accuracy, log loss and calibration error,
the answers the new one fixed and broke, and paired bootstrap 95% intervals of the differences (new minus
old). Validation accuracy chose the new checkpoint's epoch, so its validation figures lean its way a little;
the stand-ins are the same photos at another size, not an independent set.

    python bench/versus.py weights/camserve-resnet34.safetensors runs/candidate-2.1.0/camserve-resnet34.safetensors \\
        --data ../shared/data/catsdogs --fullres runs/fullres

Writes bench/results/versus.json.
"""

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, environment, load_average_1m, write_results
from paired import paired_interval, scores

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.evaluation.folder import Evaluation, answers_changed, evaluate_folder
from camserve.models.inference.predictor import Predictor
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings


def reference(weights: Path) -> Predictor:
    settings = Settings(weights_path=weights, backend="torch", device="cpu", precision="fp32")
    return load_predictor(settings.backend, settings.runtime_request())


def answers(predictor: Predictor, root: Path, validation: bool, max_pixels: int) -> Evaluation:
    folder = scan_image_folder(root, predictor.metadata.class_names)
    indices = validation_indices(folder, predictor.metadata.extra) if validation else list(range(len(folder.files)))
    return evaluate_folder(predictor, folder, indices, max_pixels)


def compare(old: Evaluation, new: Evaluation) -> dict[str, Any]:
    if old.files != new.files:
        raise ValueError("the two checkpoints answered different photos")
    labels = old.labels
    fixed, broken = answers_changed(old.probabilities, new.probabilities, labels)
    return {
        "photos": len(labels),
        "old": scores(old.probabilities, labels),
        "new": scores(new.probabilities, labels),
        "answers_fixed": fixed,
        "answers_broken": broken,
        "accuracy_difference_95": paired_interval(old.probabilities, new.probabilities, labels, accuracy),
        "log_loss_difference_95": paired_interval(old.probabilities, new.probabilities, labels, log_loss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the shipped checkpoint")
    parser.add_argument("new", type=Path, help="the candidate")
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument("--fullres", type=Path, required=True, help="full-resolution stand-ins of validation photos")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "versus.json")
    args = parser.parse_args()
    max_pixels = Settings().max_pixels
    load_before = load_average_1m()
    old, new = reference(args.old), reference(args.new)
    if old.metadata.extra.get("split") != new.metadata.extra.get("split"):
        raise SystemExit("the two checkpoints record different validation splits")
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "old": {"weights": str(args.old), "version": old.metadata.version, "input_size": old.metadata.input_size},
        "new": {"weights": str(args.new), "version": new.metadata.version, "input_size": new.metadata.input_size},
    }
    for name, root, validation in (("validation", args.data, True), ("full_resolution", args.fullres, False)):
        results[name] = compare(answers(old, root, validation, max_pixels), answers(new, root, validation, max_pixels))
        print(name, results[name])
    write_results(args.output, {**results, **environment(load_before, load_average_1m())})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
