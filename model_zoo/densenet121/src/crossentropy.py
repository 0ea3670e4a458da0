"""DenseNet loss recipe: cross entropy, label smoothing (off value eps/(C-1)) only with ``label_smooth=1``."""
from model_zoo.engine import loss
from model_zoo.engine.loss import CrossEntropySmooth, smoothing_factor


def get_loss(cfg):
    return CrossEntropySmooth(cfg.num_classes, smoothing_factor(cfg.label_smooth, cfg.label_smooth_factor))


# upstream src/losses/crossentropy.py: CrossEntropy(smooth_factor=0., num_classes=1000)
CrossEntropy = loss.CrossEntropy
