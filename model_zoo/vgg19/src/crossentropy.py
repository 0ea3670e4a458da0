"""VGG loss recipe: label-smoothing cross entropy (off value eps/(C-1)) when ``label_smooth`` is on."""
from model_zoo.engine import loss
from model_zoo.engine.loss import CrossEntropySmooth, smoothing_factor


def get_loss(cfg):
    return CrossEntropySmooth(cfg.num_classes, smoothing_factor(cfg.label_smooth, cfg.label_smooth_factor))


CrossEntropy = loss.CrossEntropy  # upstream src/crossentropy.py: CrossEntropy(smooth_factor=0., num_classes=1000)
