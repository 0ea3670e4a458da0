"""Cross-entropy losses of the upstream recipes."""
import mindspore as ms
from mindspore import nn, ops


class CrossEntropySmooth(nn.Cell):
    """Upstream label-smoothing cross entropy: target 1 - eps on the label, eps / (C - 1) elsewhere, batch mean.

    With ``smooth_factor == 0`` this is the plain sparse softmax cross entropy.
    """

    def __init__(self, num_classes, smooth_factor=0.0):
        super().__init__()
        self.num_classes = int(num_classes)
        self.smooth = float(smooth_factor)
        self.on_value = ms.Tensor(1.0 - self.smooth, ms.float32)
        self.off_value = ms.Tensor(self.smooth / max(1, self.num_classes - 1), ms.float32)
        self.onehot = ops.OneHot()
        self.dense_ce = nn.SoftmaxCrossEntropyWithLogits(sparse=False, reduction="mean")
        self.sparse_ce = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def construct(self, logits, label):
        if self.smooth > 0:
            target = self.onehot(label, self.num_classes, self.on_value, self.off_value)
            return self.dense_ce(logits.astype(ms.float32), target)
        return self.sparse_ce(logits.astype(ms.float32), label)


def smoothing_factor(label_smooth, label_smooth_factor):
    """Upstream rule: the factor applies only when ``label_smooth`` is on."""
    return float(label_smooth_factor) if int(label_smooth) else 0.0


class CrossEntropy(CrossEntropySmooth):
    """Upstream ``src/crossentropy.py`` signature:
    ``CrossEntropy(smooth_factor=0., num_classes=1000)``."""

    def __init__(self, smooth_factor=0.0, num_classes=1000):
        super().__init__(num_classes, smooth_factor)
