"""An epoch's training loss and accuracy, summed batch by batch on the device."""

import torch


class RunningScore:
    """Sums stay where the network runs: reading them after every step would stall a GPU on each batch."""

    def __init__(self, device: torch.device) -> None:
        self._loss = torch.zeros((), device=device)
        self._correct = torch.zeros((), device=device)
        self._seen = 0

    def add(self, loss: torch.Tensor, log_probs: torch.Tensor, labels: torch.Tensor) -> None:
        """One batch: its mean ``loss``, and its ``log_probs`` scored against ``labels``."""
        self._loss += loss * len(labels)
        self._correct += (log_probs.argmax(dim=1) == labels).sum()
        self._seen += len(labels)

    def loss_and_accuracy(self) -> tuple[float, float]:
        """Means over every photo added so far."""
        return float(self._loss) / self._seen, float(self._correct) / self._seen
