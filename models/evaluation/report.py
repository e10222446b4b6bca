"""Classification metrics from predicted probabilities: what ``camserve evaluate`` reports."""

from dataclasses import dataclass

import numpy as np

LOG_LOSS_EPSILON = 1e-7


@dataclass(frozen=True)
class ClassificationReport:
    class_names: tuple[str, ...]
    photos: int
    accuracy: float
    log_loss: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class

    def to_dict(self) -> dict[str, object]:
        return {
            "photos": self.photos,
            "accuracy": self.accuracy,
            "log_loss": self.log_loss,
            "per_class": {
                name: {"precision": p, "recall": r}
                for name, p, r in zip(self.class_names, self.precision, self.recall, strict=True)
            },
            "confusion": {
                "rows_true_columns_predicted": list(self.class_names),
                "counts": [list(row) for row in self.confusion],
            },
        }

    def format(self) -> str:
        width = max(len("class"), *(len(name) for name in self.class_names)) + 2
        lines = [
            f"photos    {self.photos}",
            f"accuracy  {self.accuracy:.4f}",
            f"log loss  {self.log_loss:.4f}",
            "",
            f"{'class':<{width}}precision  recall",
        ]
        lines += [
            f"{name:<{width}}{p:>9.4f}  {r:>6.4f}"
            for name, p, r in zip(self.class_names, self.precision, self.recall, strict=True)
        ]
        lines += [
            "",
            "confusion (rows: true, columns: predicted)",
            " " * width + "".join(f"{n:>8}" for n in self.class_names),
        ]
        lines += [
            f"{name:<{width}}" + "".join(f"{count:>8}" for count in row)
            for name, row in zip(self.class_names, self.confusion, strict=True)
        ]
        return "\n".join(lines)


def classification_report(
    probabilities: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]
) -> ClassificationReport:
    """``probabilities`` (N, C) rows summing to 1, ``labels`` (N,) true class indices."""
    if len(probabilities) == 0 or len(probabilities) != len(labels):
        raise ValueError(f"need matching, non-empty predictions and labels, got {len(probabilities)} and {len(labels)}")
    classes = len(class_names)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    predicted_totals, true_totals = confusion.sum(axis=0), confusion.sum(axis=1)
    diagonal = np.diag(confusion)
    precision = np.divide(diagonal, predicted_totals, out=np.zeros(classes), where=predicted_totals > 0)
    recall = np.divide(diagonal, true_totals, out=np.zeros(classes), where=true_totals > 0)
    true_probabilities = probabilities[np.arange(len(labels)), labels]
    log_loss = float(-np.log(np.clip(true_probabilities, LOG_LOSS_EPSILON, 1.0)).mean())
    return ClassificationReport(
        class_names=tuple(class_names),
        photos=len(labels),
        accuracy=float((predicted == labels).mean()),
        log_loss=log_loss,
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        confusion=tuple(tuple(int(c) for c in row) for row in confusion),
    )
