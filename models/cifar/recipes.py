"""Each lesson network's training, as the notebook runs it (courses/dl1/lesson7-cifar10.ipynb), and the
figures the notebook printed at the end of it: the last epoch's validation (= test set) accuracy and log
loss, and for Resnet2 the TTA figures of its last cell. The notebook's own wall times were measured on the
course's 2017 GPU (not named in it)."""

from dataclasses import dataclass

from camserve.models.cifar.schedule import Fit, Recipe

SGDR_LONG = (Fit(1e-2, 2), Fit(1e-2, 3, cycle_len=1, cycle_mult=2), Fit(1e-2, 8, cycle_len=4))

RECIPES: dict[str, Recipe] = {
    # learn.fit(1e-1, 2); learn.fit(1e-1, 4, cycle_len=1)
    "lesson7-convnet": Recipe((Fit(1e-1, 2), Fit(1e-1, 4, cycle_len=1))),
    # learn.fit(1e-1, 2); learn.fit(1e-1, 2, cycle_len=1)
    "lesson7-convnet2": Recipe((Fit(1e-1, 2), Fit(1e-1, 2, cycle_len=1))),
    # learn.fit(3e-2, 2); learn.fit(1e-1, 4, cycle_len=1)
    "lesson7-convbnnet": Recipe((Fit(3e-2, 2), Fit(1e-1, 4, cycle_len=1))),
    # learn.fit(1e-2, 2); learn.fit(1e-2, 2, cycle_len=1)
    "lesson7-convbnnet2": Recipe((Fit(1e-2, 2), Fit(1e-2, 2, cycle_len=1))),
    # wd=1e-5; fit(1e-2, 2, wds=wd); fit(1e-2, 3, cycle_len=1, cycle_mult=2, wds=wd); fit(1e-2, 8, cycle_len=4, wds=wd)
    "lesson7-resnet": Recipe(SGDR_LONG, weight_decay=1e-5),
    # wd=1e-6; the same three fits
    "lesson7-resnet2": Recipe(SGDR_LONG, weight_decay=1e-6),
}


@dataclass(frozen=True)
class LessonResult:
    accuracy: float
    log_loss: float
    wall_s: float  # the notebook's %time wall times of the network's fit calls, summed
    tta_accuracy: float | None = None
    tta_log_loss: float | None = None


LESSON_RESULTS: dict[str, LessonResult] = {
    "lesson7-convnet": LessonResult(0.59922, 1.12523, 56.5 + 106),
    "lesson7-convnet2": LessonResult(0.51787, 1.33511, 48.8 + 48.7),
    "lesson7-convbnnet": LessonResult(0.68135, 0.89293, 54.3 + 110),
    "lesson7-convbnnet2": LessonResult(0.64609, 0.98608, 58.2 + 57.6),
    "lesson7-resnet": LessonResult(0.82227, 0.55605, 63 + 219 + 998),
    "lesson7-resnet2": LessonResult(0.82949, 0.52052, 66 + 228 + 1036, 0.8491, 0.44507),
}
