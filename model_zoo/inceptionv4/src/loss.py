"""InceptionV4 loss recipe: softmax cross entropy with ``smooth_factor`` label smoothing.

Upstream declared ``smooth_factor: 0.1`` but never applied it (its loss was plain sparse cross entropy); here it is
applied (off value eps/(C-1), as the other recipes); ``--smooth_factor=0`` restores the upstream loss.  With the
upstream head the network outputs log-probabilities; softmax cross entropy on them equals it on the logits.
"""
from model_zoo.engine.loss import CrossEntropySmooth


def get_loss(cfg):
    return CrossEntropySmooth(cfg.num_classes, float(cfg.label_smooth_factor))
