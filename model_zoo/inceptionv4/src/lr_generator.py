"""InceptionV4 learning-rate recipe (upstream ``generate_cosine_lr``): linear warm-up from lr_init to lr_max over
``warmup_epochs``, then a per-step cosine from lr_max down to lr_end."""
from model_zoo.engine import lr as schedules


def get_lr(cfg, steps_per_epoch):
    # start_epoch slicing is superseded by --resume, which restores the optimizer's step (and so the LR position)
    return schedules.warmup_cosine_per_step(steps_per_epoch, int(cfg.max_epoch), float(cfg.lr_init),
                                            float(cfg.lr_end), float(cfg.lr_max), int(cfg.warmup_epochs))
