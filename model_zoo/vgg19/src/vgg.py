"""VGG networks (Simonyan & Zisserman 2014): configurations A, A-LRN, B, C, D, E, each with or without BatchNorm.

Parameter names follow torchvision (``features.<i>.weight``, ``classifier.0/3/6``) so that reference weights map
one to one.  The classifier is the upstream 3-layer 4096 head; its first layer takes ``512 * (H // 32) * (W // 32)``
inputs, which is exactly 512*7*7 at 224x224 and works from 32x32 up (as the upstream VGG16 head).
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

# 'M' = 2x2 max-pool, 'L' = local response normalisation (config A-LRN), (c, 1) = 1x1 conv (config C)
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A_lrn": [64, "L", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


class LocalResponseNorm(nn.Cell):
    """Cross-channel LRN of the paper (Krizhevsky et al.): ``x / (k + alpha * sum_{|j-c|<=r} x_j^2) ^ beta``.

    MindSpore 2.10's ``nn.LRN`` runs forward on CPU but its gradient fails there ("could not execute a
    primitive"), so the window sum is a fixed band-matrix product: differentiable and exportable to ONNX.
    """

    def __init__(self, channels, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75):
        super().__init__()
        index = np.arange(channels)
        band = (np.abs(index[:, None] - index[None, :]) <= depth_radius).astype(np.float32)
        self.band = ms.Tensor(band)
        self.bias, self.alpha, self.beta = float(bias), float(alpha), float(beta)

    def construct(self, x):
        n, c, h, w = x.shape
        window = ops.matmul(self.band, (x * x).reshape(n, c, h * w)).reshape(n, c, h, w)
        return x / ops.pow(window * self.alpha + self.bias, self.beta)


def make_features(config, batch_norm=False, has_bias=True, pad_mode="pad", padding=1):
    """The convolutional trunk as one SequentialCell (indices match torchvision's ``features``)."""
    layers, channels = [], 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if item == "L":
            layers.append(LocalResponseNorm(channels))
            continue
        out, kernel = item if isinstance(item, tuple) else (item, 3)
        if kernel == 1:
            conv = nn.Conv2d(channels, out, 1, pad_mode="valid", has_bias=has_bias)
        else:
            conv = nn.Conv2d(channels, out, kernel, pad_mode=pad_mode, padding=padding if pad_mode == "pad" else 0,
                             has_bias=has_bias)
        layers.append(conv)
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU())
        channels = out
    return nn.SequentialCell(layers)


class VGG(nn.Cell):
    """VGG backbone + 4096-4096-num_classes classifier.

    Args:
        config: a key of :data:`CONFIGS` or a layer list.
        num_classes: classifier outputs.
        batch_norm: BatchNorm after every conv.
        has_bias: conv bias (True in the reference networks; the upstream ImageNet YAML uses False).
        image_size: (H, W) the network will see; sizes the first classifier layer.
        dropout: drop probability of the two classifier dropouts (0 disables them).
        pad_mode, padding: conv padding (upstream ImageNet 'pad'/1, CIFAR 'same'/0: same result for 3x3).
    """

    def __init__(self, config="E", num_classes=1000, batch_norm=False, has_bias=True, image_size=(224, 224),
                 dropout=0.5, pad_mode="pad", padding=1):
        super().__init__()
        layers = CONFIGS[config] if isinstance(config, str) else config
        height, width = image_size
        if height < 32 or width < 32:
            raise ValueError(f"VGG needs inputs of at least 32x32, got {height}x{width}")
        self.features = make_features(layers, batch_norm, has_bias, pad_mode, padding)
        self.flatten = nn.Flatten()
        in_features = 512 * (height // 32) * (width // 32)
        self.fc_grid = (height // 32, width // 32)  # the feature map the first FC layer reads
        self.classifier = nn.SequentialCell([
            nn.Dense(in_features, 4096), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Dense(4096, 4096), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Dense(4096, num_classes)])
        self.num_classes = num_classes

    def forward_features(self, x):
        return self.features(x)

    def construct(self, x):
        return self.classifier(self.flatten(self.features(x)))


class DenseVGG(nn.Cell):
    """The paper's dense evaluation network (sec. 3.2): the VGG's FC layers as convolutions (the first one
    ``fc_grid``-sized, 7x7 for 224 training, the other two 1x1) on top of the same trunk, applied to the whole
    image; the class score map is averaged over space.  At the training size the map is 1x1 and the result equals
    the network's.  Built from a trained :class:`VGG` (its weights copied), for evaluation only."""

    def __init__(self, vgg):
        super().__init__()
        self.features = vgg.features
        dense = [cell for cell in vgg.classifier.cell_list if isinstance(cell, nn.Dense)]
        kh, kw = vgg.fc_grid
        kernels = [(kh, kw), (1, 1), (1, 1)]
        convs = []
        for layer, kernel in zip(dense, kernels):
            out_channels, in_features = layer.weight.shape
            conv = nn.Conv2d(in_features // (kernel[0] * kernel[1]), out_channels, kernel, pad_mode="valid",
                             has_bias=True)
            conv.weight.set_data(ms.Tensor(layer.weight.asnumpy().reshape(conv.weight.shape)))
            conv.bias.set_data(ms.Tensor(layer.bias.asnumpy()))
            convs.append(conv)
        self.fc6, self.fc7, self.fc8 = convs
        self.relu = nn.ReLU()

    def construct(self, x):
        x = self.relu(self.fc6(self.features(x)))
        x = self.relu(self.fc7(x))
        return ops.mean(self.fc8(x), (2, 3))


# name -> (config letter, batch norm, paper name)
VARIANTS = {
    "vgg11": ("A", False, "A"), "vgg11_bn": ("A", True, None), "vgg11_lrn": ("A_lrn", False, "A-LRN"),
    "vgg13": ("B", False, "B"), "vgg13_bn": ("B", True, None),
    "vgg16_c": ("C", False, "C"), "vgg16_c_bn": ("C", True, None),
    "vgg16": ("D", False, "D"), "vgg16_bn": ("D", True, None),
    "vgg19": ("E", False, "E"), "vgg19_bn": ("E", True, None),
}


def build(name, num_classes=1000, has_bias=True, image_size=(224, 224), dropout=0.5, **kwargs):
    """Build a registered VGG variant by name."""
    config, batch_norm, _ = VARIANTS[name]
    return VGG(config, num_classes, batch_norm, has_bias, tuple(image_size), dropout, **kwargs)


def count_params(net):
    return sum(int(ops.size(p)) for p in net.trainable_params())


# ---- upstream public names (official/cv/VGG/vgg19/src/vgg.py), thin aliases over the classes above ----
cfg = {"11": CONFIGS["A"], "13": CONFIGS["B"], "16": CONFIGS["D"], "19": CONFIGS["E"]}
UPSTREAM_ARGS = dict(batch_norm=False, has_bias=False, pad_mode="pad", padding=1, has_dropout=True,
                     initialize_mode="KaimingNormal", image_size="224,224")  # imagenet2012_config.yaml


class Vgg(VGG):
    """Upstream ``Vgg(base, num_classes=1000, batch_norm=False, batch_size=1, args=None, phase="train",
    include_top=True)``: ``base`` a layer list of :data:`cfg`, ``args`` the config (has_bias, pad_mode, padding,
    has_dropout, initialize_mode; missing ones as in imagenet2012_config.yaml), dropout only for phase "train";
    without ``include_top`` the output is the trunk's feature map."""

    def __init__(self, base, num_classes=1000, batch_norm=False, batch_size=1, args=None, phase="train",
                 include_top=True):
        from model_zoo.engine.config import parse_image_size
        from model_zoo.vgg19.src.var_init import initialize

        arg = {key: getattr(args, key, value) for key, value in UPSTREAM_ARGS.items()}
        super().__init__(list(base), num_classes, batch_norm, bool(arg["has_bias"]),
                         parse_image_size(arg["image_size"]), 0.5 if arg["has_dropout"] and phase != "test" else 0.0,
                         arg["pad_mode"], int(arg["padding"]))
        self.include_top = include_top
        initialize(self, arg["initialize_mode"])

    def construct(self, x):
        x = self.features(x)
        return self.classifier(self.flatten(x)) if self.include_top else x


def vgg19(num_classes=1000, args=None, phase="train", **kwargs):
    """Upstream ``vgg19(num_classes=1000, args=None, phase="train")``: VGG19 (``args.batch_norm``: VGG19-BN)."""
    return Vgg(cfg["19"], num_classes=num_classes, args=args, batch_norm=bool(getattr(args, "batch_norm", False)),
               phase=phase, **kwargs)
