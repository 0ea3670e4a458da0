"""InceptionV4 learning-rate recipe (upstream ``generate_cosine_lr``): linear warm-up from lr_init to lr_max over
``warmup_epochs``, then a per-step cosine from lr_max down to lr_end."""
from model_zoo.engine import lr as schedules


def get_lr(cfg, steps_per_epoch):
    # the whole schedule: start_epoch (upstream sliced the array at its first step) starts the optimizer's step
    # counter there instead (model_zoo.engine.trainer.start_at_epoch), so checkpoints resume the same position
    return schedules.warmup_cosine_per_step(steps_per_epoch, int(cfg.max_epoch), float(cfg.lr_init),
                                            float(cfg.lr_end), float(cfg.lr_max), int(cfg.warmup_epochs))


def generate_cosine_lr(steps_per_epoch, total_epochs, lr_init=0.00004, lr_end=0.000004, lr_max=0.4, warmup_epochs=1):
    """Upstream train.py's ``generate_cosine_lr`` (defaults of default_config.yaml)."""
    return schedules.warmup_cosine_per_step(steps_per_epoch, total_epochs, lr_init, lr_end, lr_max, warmup_epochs)
