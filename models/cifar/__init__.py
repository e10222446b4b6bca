"""The lesson's CIFAR-10 half: its networks, data, schedule, training with TTA, and the ablation table."""
