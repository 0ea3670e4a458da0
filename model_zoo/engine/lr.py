"""Learning-rate schedules of the upstream recipes, as per-step float32 arrays (one value per training step).

All warm-ups are linear: ``lr * (i + 1) / warmup_steps`` for step ``i`` (from 0), except ``poly_step`` which uses
the upstream ``lr_steps`` formula from ``lr_init`` to ``lr_max``.
"""
import math

import numpy as np


def _warmup(base_lr, step, warmup_steps, init_lr=0.0):
    return init_lr + (base_lr - init_lr) * (step + 1) / warmup_steps


def multistep(lr, steps_per_epoch, max_epoch, milestones, gamma=0.1, warmup_epochs=0):
    """'exponential' in the upstream YAMLs (VGG warmup_step_lr, DenseNet MultiStepLR): lr *= gamma at each
    milestone epoch."""
    total, warmup = steps_per_epoch * max_epoch, steps_per_epoch * warmup_epochs
    milestone_steps = {int(m) * steps_per_epoch for m in milestones}
    out, current = [], float(lr)
    for i in range(total):
        if i < warmup:
            out.append(_warmup(lr, i, warmup))
            continue
        if i in milestone_steps:
            current *= gamma
        out.append(current)
    return np.asarray(out, dtype=np.float32)


def cosine_annealing(lr, steps_per_epoch, max_epoch, T_max, eta_min=0.0, warmup_epochs=0):
    """Upstream 'cosine_annealing': epoch-wise cosine, constant within an epoch, epoch 0 at ``lr``."""
    total, warmup = steps_per_epoch * max_epoch, steps_per_epoch * warmup_epochs
    out = []
    for i in range(total):
        if i < warmup:
            out.append(_warmup(lr, i, warmup))
        else:
            epoch = i // steps_per_epoch
            out.append(eta_min + (lr - eta_min) * (1.0 + math.cos(math.pi * epoch / T_max)) / 2.0)
    return np.asarray(out, dtype=np.float32)


def poly_step(lr_init, lr_max, steps_per_epoch, max_epoch, warmup_epochs=0, global_step=0):
    """Upstream VGG 'step' (``lr_steps``): linear warm-up lr_init -> lr_max, then lr_max * (1 - p)^2."""
    total, warmup = steps_per_epoch * max_epoch, steps_per_epoch * warmup_epochs
    out = []
    for i in range(total):
        if i < warmup:
            value = lr_init + (lr_max - lr_init) / warmup * i
        else:
            value = max(0.0, lr_max * (1.0 - (i - warmup) / (total - warmup)) ** 2)
        out.append(value)
    return np.asarray(out[global_step:], dtype=np.float32)


def warmup_cosine_per_step(steps_per_epoch, total_epochs, lr_init, lr_end, lr_max, warmup_epochs, start_epoch=1):
    """InceptionV4 ``generate_cosine_lr``: linear warm-up lr_init -> lr_max, then per-step cosine to lr_end."""
    total, warmup = steps_per_epoch * total_epochs, steps_per_epoch * warmup_epochs
    decay = max(1, total - warmup)
    out = []
    for i in range(total):
        if i < warmup:
            out.append(lr_init + (lr_max - lr_init) / warmup * (i + 1))
        else:
            out.append((lr_max - lr_end) * 0.5 * (1.0 + math.cos(math.pi * (i - warmup) / decay)) + lr_end)
    return np.asarray(out[steps_per_epoch * (start_epoch - 1):], dtype=np.float32)


def by_name(cfg, steps_per_epoch, allowed=("step", "exponential", "cosine_annealing")):
    """The upstream ``lr_scheduler`` switch (VGG19 and DenseNet share the formulas)."""
    from model_zoo.engine.config import parse_int_list
    from model_zoo.engine.errors import ConfigError

    name = cfg.lr_scheduler
    if name not in allowed:
        raise ConfigError(f"unknown lr_scheduler {name!r}; choose {', '.join(allowed)}")
    if name == "step":
        return poly_step(cfg.lr_init, cfg.lr_max, steps_per_epoch, cfg.max_epoch, cfg.warmup_epochs)
    if name == "exponential":
        return multistep(cfg.lr, steps_per_epoch, cfg.max_epoch, parse_int_list(cfg.lr_epochs), cfg.lr_gamma,
                         cfg.warmup_epochs)
    return cosine_annealing(cfg.lr, steps_per_epoch, cfg.max_epoch, cfg.T_max, cfg.eta_min, cfg.warmup_epochs)
