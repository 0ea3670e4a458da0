"""InceptionV4 loss recipe: softmax cross entropy, as upstream (``SoftmaxCrossEntropyWithLogits(sparse=True)``).

Upstream declared ``smooth_factor: 0.1`` but never applied it; the default here is the same plain loss.  Label
smoothing (target 1 - eps on the label, eps / (C - 1) elsewhere, as the other recipes) is only behind
``--label_smooth=1``, with ``smooth_factor`` as eps.  With the upstream head the network outputs log-probabilities;
softmax cross entropy on them equals it on the logits.
"""
from model_zoo.engine.loss import CrossEntropySmooth, smoothing_factor


def get_loss(cfg):
    return CrossEntropySmooth(cfg.num_classes, smoothing_factor(cfg.label_smooth, cfg.label_smooth_factor))
