"""Learning-rate schedules of the upstream recipes, as per-step float32 arrays (one value per training step).

All warm-ups are linear: ``lr * (i + 1) / warmup_steps`` for step ``i`` (from 0), except ``poly_step`` which uses
the upstream ``lr_steps`` formula from ``lr_init`` to ``lr_max``.
"""
import math

import numpy as np


def _warmup(base_lr, step, warmup_steps, init_lr=0.0):
    return init_lr + (base_lr - init_lr) * (step + 1) / warmup_steps


def _piecewise(steps_per_epoch, max_epoch, warmup_epochs, warm, after):
    """Per-step array: ``warm(i, warmup)`` for the warm-up steps, ``after(i, warmup, total)`` for the rest."""
    total, warmup = steps_per_epoch * max_epoch, steps_per_epoch * warmup_epochs
    return np.asarray([warm(i, warmup) if i < warmup else after(i, warmup, total) for i in range(total)],
                      dtype=np.float32)


def multistep(lr, steps_per_epoch, max_epoch, milestones, gamma=0.1, warmup_epochs=0):
    """'exponential' in the upstream YAMLs (their warmup_step_lr / MultiStepLR): lr *= gamma at each
    milestone epoch reached after the warm-up."""
    steps = sorted(int(m) * steps_per_epoch for m in milestones)
    return _piecewise(steps_per_epoch, max_epoch, warmup_epochs, lambda i, w: _warmup(lr, i, w),
                      lambda i, w, t: lr * gamma ** sum(1 for m in steps if w <= m <= i))


def cosine_annealing(lr, steps_per_epoch, max_epoch, T_max, eta_min=0.0, warmup_epochs=0):
    """Upstream 'cosine_annealing': epoch-wise cosine, constant within an epoch, epoch 0 at ``lr``."""
    return _piecewise(steps_per_epoch, max_epoch, warmup_epochs, lambda i, w: _warmup(lr, i, w),
                      lambda i, w, t: eta_min + (lr - eta_min) * (1.0 + math.cos(
                          math.pi * (i // steps_per_epoch) / T_max)) / 2.0)


def poly_step(lr_init, lr_max, steps_per_epoch, max_epoch, warmup_epochs=0, global_step=0):
    """Upstream 'step' (``lr_steps``): linear warm-up lr_init -> lr_max, then lr_max * (1 - p)^2."""
    values = _piecewise(steps_per_epoch, max_epoch, warmup_epochs,
                        lambda i, w: lr_init + (lr_max - lr_init) / w * i,
                        lambda i, w, t: max(0.0, lr_max * (1.0 - (i - w) / (t - w)) ** 2))
    return values[global_step:]


def warmup_cosine_per_step(steps_per_epoch, total_epochs, lr_init, lr_end, lr_max, warmup_epochs, start_epoch=1):
    """Upstream ``generate_cosine_lr``: linear warm-up lr_init -> lr_max, then per-step cosine to lr_end."""
    values = _piecewise(steps_per_epoch, total_epochs, warmup_epochs,
                        lambda i, w: lr_init + (lr_max - lr_init) / w * (i + 1),
                        lambda i, w, t: (lr_max - lr_end) * 0.5 * (1.0 + math.cos(math.pi * (i - w) / max(1, t - w)))
                        + lr_end)
    return values[steps_per_epoch * (start_epoch - 1):]


def by_name(cfg, steps_per_epoch, allowed=("step", "exponential", "cosine_annealing")):
    """The upstream ``lr_scheduler`` switch (the recipes that have it share the formulas).  ``plateau`` (the
    paper recipe's: lr / 10 when the val accuracy stops improving) is a constant ``lr`` here; the trainer lowers it at run
    time."""
    from model_zoo.engine.config import parse_int_list
    from model_zoo.engine.errors import ConfigError

    name = cfg.lr_scheduler
    if name not in allowed:
        raise ConfigError(f"unknown lr_scheduler {name!r}; choose {', '.join(allowed)}")
    if name == "plateau":
        return np.full(steps_per_epoch * int(cfg.max_epoch), float(cfg.lr), dtype=np.float32)
    if name == "step":
        return poly_step(cfg.lr_init, cfg.lr_max, steps_per_epoch, cfg.max_epoch, cfg.warmup_epochs)
    if name == "exponential":
        return multistep(cfg.lr, steps_per_epoch, cfg.max_epoch, parse_int_list(cfg.lr_epochs), cfg.lr_gamma,
                         cfg.warmup_epochs)
    return cosine_annealing(cfg.lr, steps_per_epoch, cfg.max_epoch, cfg.T_max, cfg.eta_min, cfg.warmup_epochs)
