"""VGG learning-rate recipe: ``lr_scheduler`` step (poly-2 with warm-up, CIFAR) | exponential (multi-step) |
cosine_annealing (epoch-wise, ImageNet), with the upstream formulas of ``model_zoo.engine.lr``; plateau (the paper
recipe: lr / 10 when the val accuracy stops improving)."""
from model_zoo.engine import lr as schedules

SCHEDULERS = ("step", "exponential", "cosine_annealing", "plateau")


def get_lr(cfg, steps_per_epoch):
    return schedules.by_name(cfg, steps_per_epoch, allowed=SCHEDULERS)


# ---- upstream public names (src/linear_warmup.py, warmup_step_lr.py, warmup_cosine_annealing_lr.py) ----
def linear_warmup_lr(current_step, warmup_steps, base_lr, init_lr):
    return float(init_lr) + (float(base_lr) - float(init_lr)) / float(warmup_steps) * float(current_step)


def warmup_step_lr(lr, lr_epochs, steps_per_epoch, warmup_epochs, max_epoch, gamma=0.1):
    from model_zoo.engine.config import parse_int_list

    return schedules.multistep(lr, steps_per_epoch, max_epoch, parse_int_list(lr_epochs), gamma, warmup_epochs)


def warmup_cosine_annealing_lr(lr, steps_per_epoch, warmup_epochs, max_epoch, T_max, eta_min=0):
    return schedules.cosine_annealing(lr, steps_per_epoch, max_epoch, T_max, eta_min, warmup_epochs)
