"""VGG learning-rate recipe: ``lr_scheduler`` step (poly-2 with warm-up, CIFAR) | exponential (multi-step) |
cosine_annealing (epoch-wise, ImageNet), with the upstream formulas of ``model_zoo.engine.lr``."""
from model_zoo.engine import lr as schedules

SCHEDULERS = ("step", "exponential", "cosine_annealing")


def get_lr(cfg, steps_per_epoch):
    return schedules.by_name(cfg, steps_per_epoch, allowed=SCHEDULERS)
