"""DenseNet networks (Huang et al. 2017, "Densely Connected Convolutional Networks") as MindSpore cells.

One :class:`DenseNet` class covers the ImageNet models (121/161/169/201, 7x7/2 stem + 3x3/2 max-pool) and the
CIFAR model DenseNet-BC-100 (k=12, 3x3/1 stem, no pool), as in the upstream ModelZoo ``densenet`` code.

Layout, per dense layer: BN -> ReLU -> 1x1 conv (``bn_size * growth_rate``) -> BN -> ReLU -> 3x3 conv
(``growth_rate``) [-> dropout], concatenated to the layer input.  Transitions: BN -> ReLU -> 1x1 conv
(compression 0.5, ``out = features // 2``) -> 2x2/2 pool.  Head: BN -> ReLU -> global mean -> Dense.

Deliberate choices:

* ``transition_pool``: the upstream DenseNet121 uses ``MaxPool2d(2, 2)`` in its transitions; the paper,
  torchvision and timm use ``AvgPool2d(2, 2)``.  :func:`densenet121` defaults to ``'max'`` (upstream);
  pass ``'avg'`` to load torchvision/timm weights.  The CIFAR DenseNet100 uses average pooling (upstream too).
* ``stem_pool``: the 3x3/2 stem max-pool of the ImageNet models.  ``'same'`` (upstream, the default) is
  MindSpore's ``MaxPool2d(pad_mode='same')``: TensorFlow SAME padding, which for an even input size pads only the
  bottom and right (one row/column), so its windows differ from torchvision's.  ``'symmetric'`` is torchvision's
  and timm's ``MaxPool2d(3, 2, padding=1)`` (:class:`StemMaxPool`); use it for their weights.  The two outputs
  differ by about 10% of their scale.  Both export to ONNX (MindSpore's ``MaxPool2d(pad_mode='pad')`` runs as
  ``MaxPool3DWithArgmax``, which the exporter rejects, so ``'symmetric'`` is an explicit zero ``nn.Pad`` followed
  by a valid pool; zero padding equals torch's ``-inf`` padding because the pool follows a ReLU).
* Global pooling is ``ops.mean(x, (2, 3))``: ``nn.AdaptiveAvgPool2d`` cannot be exported to ONNX in MindSpore 2.10.
* BatchNorm: eps 1e-5, MindSpore momentum 0.9 (== torch momentum 0.1), i.e. the torch and MindSpore defaults.

Parameter names mirror torchvision's ``densenet*`` state_dict keys, with MindSpore BN names
(torch ``weight/bias/running_mean/running_var`` == MindSpore ``gamma/beta/moving_mean/moving_variance``)::

    features.conv0.weight                  features.norm0.gamma / beta / moving_mean / moving_variance
    features.denseblock1.denselayer1.norm1.gamma    features.denseblock1.denselayer1.conv1.weight
    features.denseblock1.denselayer1.norm2.beta     features.denseblock1.denselayer1.conv2.weight
    features.transition1.norm.gamma        features.transition1.conv.weight
    features.norm5.moving_variance         classifier.weight / classifier.bias
"""
from collections import OrderedDict

from mindspore import nn, ops

BN_EPS = 1e-5
BN_MOMENTUM = 0.9  # MindSpore convention: moving = momentum * moving + (1 - momentum) * batch
TRANSITION_POOLS = ("max", "avg")
STEM_POOLS = ("same", "symmetric")


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _conv(in_channels, out_channels, kernel_size, stride=1):
    """Bias-free conv with symmetric ``kernel_size // 2`` padding (torchvision's DenseNet convs)."""
    padding = kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, has_bias=False,
                     pad_mode="pad" if padding else "valid", padding=padding)


class StemMaxPool(nn.Cell):
    """``MaxPool2d(kernel, stride, padding)`` with torch window placement, exportable to ONNX.

    Zero padding stands in for torch's ``-inf`` padding, which is exact for non-negative inputs (after a ReLU).

    Args:
        kernel_size (int): pooling window.
        stride (int): pooling stride.
        padding (int): zero padding added on every side.
    """

    def __init__(self, kernel_size=3, stride=2, padding=1):
        super().__init__()
        self.pad = nn.Pad(((0, 0), (0, 0), (padding, padding), (padding, padding)))
        self.pool = nn.MaxPool2d(kernel_size, stride)

    def construct(self, x):
        return self.pool(self.pad(x))


class DenseLayer(nn.Cell):
    """Bottleneck layer ``BN-ReLU-Conv1x1-BN-ReLU-Conv3x3``; returns only the ``growth_rate`` new maps.

    Args:
        num_input_features (int): input channels.
        growth_rate (int): output channels (k).
        bn_size (int): bottleneck width multiplier (1x1 conv has ``bn_size * growth_rate`` outputs).
        drop_rate (float): dropout probability on the new maps; 0 disables dropout.
    """

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate=0.0):
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = _bn(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = _conv(num_input_features, width, 1)
        self.norm2 = _bn(width)
        self.relu2 = nn.ReLU()
        self.conv2 = _conv(width, growth_rate, 3)
        self.use_dropout = drop_rate > 0
        self.dropout = nn.Dropout(p=drop_rate) if self.use_dropout else nn.Identity()

    def construct(self, x):
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        if self.use_dropout:
            out = self.dropout(out)
        return out


class DenseBlock(nn.SequentialCell):
    """``num_layers`` dense layers named ``denselayer1..N``; each output is concatenated to its input.

    Args:
        num_layers (int): number of dense layers.
        num_input_features (int): input channels.
        bn_size (int): bottleneck width multiplier.
        growth_rate (int): channels added per layer.
        drop_rate (float): dropout probability inside each layer.
    """

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate=0.0):
        layers = OrderedDict(
            (f"denselayer{i + 1}", DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate))
            for i in range(num_layers))
        super().__init__(layers)
        self.out_channels = num_input_features + num_layers * growth_rate

    def construct(self, x):
        for layer in self.cell_list:
            x = ops.cat((x, layer(x)), 1)
        return x


class Transition(nn.SequentialCell):
    """``BN-ReLU-Conv1x1-Pool(2, 2)`` between dense blocks (sub-cells ``norm``, ``relu``, ``conv``, ``pool``).

    Args:
        num_input_features (int): input channels.
        num_output_features (int): output channels.
        pool (str): ``'max'`` (upstream DenseNet121) or ``'avg'`` (paper, torchvision, timm, DenseNet100).
    """

    def __init__(self, num_input_features, num_output_features, pool="avg"):
        pool_cell = nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2)
        super().__init__(OrderedDict([
            ("norm", _bn(num_input_features)),
            ("relu", nn.ReLU()),
            ("conv", _conv(num_input_features, num_output_features, 1)),
            ("pool", pool_cell),
        ]))


def _stem(num_init_features, growth_rate, stem_pool="same"):
    """ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) or, without ``num_init_features``, the CIFAR stem."""
    if num_init_features is None:
        channels = 2 * growth_rate
        return [("conv0", _conv(3, channels, 3)), ("norm0", _bn(channels)), ("relu0", nn.ReLU())], channels
    pool = nn.MaxPool2d(3, 2, pad_mode="same") if stem_pool == "same" else StemMaxPool(3, 2, 1)
    return [("conv0", _conv(3, num_init_features, 7, stride=2)), ("norm0", _bn(num_init_features)),
            ("relu0", nn.ReLU()), ("pool0", pool)], num_init_features


class DenseNet(nn.Cell):
    """DenseNet-BC backbone and linear classifier.

    Args:
        growth_rate (int): channels added per dense layer (k).
        block_config (tuple[int]): dense layers per block.
        num_init_features (int | None): stem width; ``None`` selects the CIFAR stem (3x3/1 conv to
            ``2 * growth_rate``, no pool).
        bn_size (int): bottleneck width multiplier. Default 4.
        drop_rate (float): dropout probability after each dense layer. Default 0.
        num_classes (int): classifier outputs.
        transition_pool (str): ``'max'`` or ``'avg'`` pooling in the transitions.
        stem_pool (str): ``'same'`` (upstream) or ``'symmetric'`` (torchvision, timm) stem max-pool padding.
    """

    def __init__(self, growth_rate, block_config, num_init_features=None, bn_size=4, drop_rate=0.0,
                 num_classes=1000, transition_pool="avg", stem_pool="same"):
        super().__init__()
        if transition_pool not in TRANSITION_POOLS:
            raise ValueError(f"transition_pool must be one of {TRANSITION_POOLS}, got {transition_pool!r}")
        if stem_pool not in STEM_POOLS:
            raise ValueError(f"stem_pool must be one of {STEM_POOLS}, got {stem_pool!r}")
        layers, channels = _stem(num_init_features, growth_rate, stem_pool)
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate)
            layers.append((f"denseblock{i + 1}", block))
            channels = block.out_channels
            if i != len(block_config) - 1:
                layers.append((f"transition{i + 1}", Transition(channels, channels // 2, transition_pool)))
                channels //= 2
        layers += [("norm5", _bn(channels)), ("relu5", nn.ReLU())]
        self.features = nn.SequentialCell(OrderedDict(layers))
        self.num_features = channels
        self.classifier = nn.Dense(channels, num_classes)

    def construct(self, x):
        x = self.features(x)
        return self.classifier(ops.mean(x, (2, 3)))


def densenet121(num_classes=1000, transition_pool="max", **kwargs):
    """DenseNet-121 (k=32, blocks 6/12/24/16); upstream max-pool transitions and stem pool by default."""
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes, transition_pool=transition_pool, **kwargs)


def densenet161(num_classes=1000, transition_pool="avg", stem_pool="symmetric", **kwargs):
    """DenseNet-161 (k=48, blocks 6/12/36/24, stem 96); torchvision numerics by default."""
    return DenseNet(48, (6, 12, 36, 24), 96, num_classes=num_classes, transition_pool=transition_pool,
                    stem_pool=stem_pool, **kwargs)


def densenet169(num_classes=1000, transition_pool="avg", stem_pool="symmetric", **kwargs):
    """DenseNet-169 (k=32, blocks 6/12/32/32); torchvision numerics by default."""
    return DenseNet(32, (6, 12, 32, 32), 64, num_classes=num_classes, transition_pool=transition_pool,
                    stem_pool=stem_pool, **kwargs)


def densenet201(num_classes=1000, transition_pool="avg", stem_pool="symmetric", **kwargs):
    """DenseNet-201 (k=32, blocks 6/12/48/32); torchvision numerics by default."""
    return DenseNet(32, (6, 12, 48, 32), 64, num_classes=num_classes, transition_pool=transition_pool,
                    stem_pool=stem_pool, **kwargs)


def densenet100(num_classes=10, transition_pool="avg", **kwargs):
    """DenseNet-BC-100 for CIFAR (k=12, blocks 16/16/16, 3x3 stem, average-pool transitions)."""
    return DenseNet(12, (16, 16, 16), None, num_classes=num_classes, transition_pool=transition_pool, **kwargs)



# ---- upstream public names (src/network/densenet.py): the networks with the upstream init ----
def _upstream(builder, num_classes, include_top):
    from model_zoo.densenet121.src.var_init import initialize

    net = initialize(builder(num_classes=num_classes))
    return net if include_top else net.features


def DenseNet121(num_classes=1000, include_top=True):  # noqa: N802 (upstream name)
    """Upstream ``DenseNet121(num_classes, include_top=True)``; without the top, the trunk (its feature map)."""
    return _upstream(densenet121, num_classes, include_top)


def DenseNet100(num_classes=10, include_top=True):  # noqa: N802 (upstream name)
    """Upstream ``DenseNet100(num_classes, include_top=True)`` (CIFAR-10)."""
    return _upstream(densenet100, num_classes, include_top)
