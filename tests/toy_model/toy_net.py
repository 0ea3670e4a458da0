"""The toy network: two 3x3 convolutions with BatchNorm and ReLU, a global mean and a Dense head (about 1,500
parameters).  Its parameter names are its own; the engine reads none of them."""
from mindspore import nn, ops


class ToyNet(nn.Cell):
    def __init__(self, num_classes=3, width=8):
        super().__init__()
        self.features = nn.SequentialCell([
            nn.Conv2d(3, width, 3, stride=2, pad_mode="same"), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, pad_mode="same"), nn.BatchNorm2d(2 * width), nn.ReLU()])
        self.classifier = nn.Dense(2 * width, num_classes)

    def construct(self, x):
        return self.classifier(ops.mean(self.features(x), (2, 3)))


def toy_net(num_classes=3, width=8):
    """ToyNet: 2 conv + BN + ReLU, global mean, Dense (``create_model("toy_net", num_classes=3)`` calls this)."""
    return ToyNet(num_classes=int(num_classes), width=int(width))
