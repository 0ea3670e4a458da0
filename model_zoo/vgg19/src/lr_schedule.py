"""VGG learning-rate recipe: ``lr_scheduler`` step | exponential | cosine_annealing (upstream formulas)."""
from model_zoo.engine import lr as schedules
from model_zoo.engine.config import parse_int_list
from model_zoo.engine.errors import ConfigError


def get_lr(cfg, steps_per_epoch):
    name = cfg.lr_scheduler
    if name == "step":
        return schedules.poly_step(cfg.lr_init, cfg.lr_max, steps_per_epoch, cfg.max_epoch, cfg.warmup_epochs)
    if name == "exponential":
        return schedules.multistep(cfg.lr, steps_per_epoch, cfg.max_epoch, parse_int_list(cfg.lr_epochs),
                                   cfg.lr_gamma, cfg.warmup_epochs)
    if name == "cosine_annealing":
        return schedules.cosine_annealing(cfg.lr, steps_per_epoch, cfg.max_epoch, cfg.T_max, cfg.eta_min,
                                          cfg.warmup_epochs)
    raise ConfigError(f"unknown lr_scheduler {name!r}; choose step, exponential or cosine_annealing")
