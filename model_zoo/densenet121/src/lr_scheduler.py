"""DenseNet learning-rate recipe: ``lr_scheduler`` exponential (upstream MultiStepLR: lr *= lr_gamma at each
``lr_epochs`` milestone) | cosine_annealing (epoch-wise, T_max, eta_min), both with linear warm-up."""
from model_zoo.engine import lr as schedules

SCHEDULERS = ("exponential", "cosine_annealing")


def get_lr(cfg, steps_per_epoch):
    return schedules.by_name(cfg, steps_per_epoch, allowed=SCHEDULERS)
