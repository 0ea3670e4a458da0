"""Inception-v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual Connections")
as a MindSpore cell: stem (Mixed3a/4a/5a), 4x InceptionA, ReductionA, 7x InceptionB, ReductionB, 3x InceptionC.

Every convolution is ``BasicConv`` = Conv2d (no bias) + BatchNorm2d + ReLU.  Its BatchNorm eps and momentum are
network options (``bn_eps``, ``bn_momentum``): the upstream ``Conv2dBnAct`` uses eps 1e-5 and MindSpore momentum
0.997 (the defaults here and in the recipe YAMLs); timm's ``inception_v4`` uses eps 1e-3 and torch momentum 0.1
(MindSpore 0.9), which weights converted from timm record so that they give timm's logits.  With 0.997 the moving
statistics average over ~330 steps, so in very short runs the eval-mode statistics lag behind the weights.

ONNX-safe construction (MindSpore 2.10 exporter pitfalls):

* 1x7/7x1/1x3/3x1 convs use ``pad_mode='same'``: a 4-tuple asymmetric ``padding`` is exported with the ONNX
  ``pads`` in the wrong order.  With stride 1 and odd kernels 'same' is the symmetric (0, 3)/(3, 0)/... padding.
* The 3x3/1 average pools in the A/B/C blocks are ``nn.AvgPool2d(3, 1, pad_mode='same')``, which excludes the
  padding from the count (== timm's ``count_include_pad=False``); ``pad_mode='pad'`` runs as AvgPool3D, which the
  exporter rejects.
* Global pooling is ``ops.mean(x, (2, 3))``; ``nn.AdaptiveAvgPool2d`` is not exportable.

Heads (``head=``):

* ``'reference'`` (paper / timm): global mean -> Dropout(p) -> Dense(1536, classes).  42,679,816 trainable
  parameters at 1000 classes (timm ``inception_v4``).  Default dropout p = 0.2 (paper keep-prob 0.8).
* ``'upstream'`` (ModelZoo): global mean -> BatchNorm1d(1536, eps=0.001, momentum=0.1) -> Dropout(p) ->
  Dense(1536, classes, XavierUniform, bias) -> BatchNorm1d(classes) (MindSpore defaults, eps 1e-5, momentum 0.9)
  -> LogSoftmax.  Default dropout p = 0.8 (upstream keeps only 20%).  The MindSpore momentum 0.1 of the first BN
  is the upstream value (moving statistics follow almost only the last batch).  42,684,888 trainable parameters
  at 1000 classes (42,679,816 + 3,072 + 2,000).  The output is log-probabilities; cross entropy on it equals
  cross entropy on logits.  The Dense bias is redundant: the training-mode BatchNorm1d after it subtracts it
  again, so its gradient is zero (kept for upstream checkpoint compatibility).

Parameter names mirror timm's ``inception_v4`` state_dict with MindSpore BN names (torch ``bn.weight/bias/
running_mean/running_var`` == ``bn.gamma/beta/moving_mean/moving_variance``)::

    features.0.conv.weight            features.0.bn.gamma            (stem convs: features.0, 1, 2)
    features.3.conv.conv.weight       (Mixed3a)     features.4.branch1.2.conv.weight  (Mixed4a)
    features.6.branch3.1.bn.beta      (InceptionA: features.6-9, branch0..branch3)
    features.10.branch1.2.conv.weight (ReductionA)  features.11-17 InceptionB, features.18 ReductionB
    features.19.branch2_3a.conv.weight (InceptionC: features.19-21, branch1_1a/b, branch2_0.._3b)
    last_linear.weight / last_linear.bias
The upstream head adds ``head_bn.*`` (BatchNorm1d 1536) and ``logits_bn.*`` (BatchNorm1d classes); these have
no timm counterpart.  Rule for a timm converter: same key, ``weight->gamma``, ``bias->beta``,
``running_mean->moving_mean``, ``running_var->moving_variance`` for BN; drop ``num_batches_tracked``.
"""
from mindspore import nn, ops
from mindspore.common.initializer import XavierUniform

BN_EPS = 1e-5        # upstream Conv2dBnAct (timm: 1e-3)
BN_MOMENTUM = 0.997  # upstream Conv2dBnAct, MindSpore convention (timm: torch 0.1 == MindSpore 0.9)
NUM_FEATURES = 1536
HEADS = ("upstream", "reference")
DEFAULT_DROPOUT = {"reference": 0.2, "upstream": 0.8}
# Smallest square input: 75 -> 37 -> 35 -> 17 (Mixed3a) -> 15 (Mixed4a) -> 7 (Mixed5a) -> 3 (ReductionA)
# -> 1 (ReductionB); 74 collapses to 0 in ReductionB.  Verified in tests/test_inceptionv4_net.py.
MIN_INPUT_SIZE = 75


class BasicConv(nn.Cell):
    """Conv2d (no bias) -> BatchNorm2d(eps, momentum) -> ReLU; sub-cells ``conv``, ``bn``, ``act``.

    Padding: square kernels take ``padding`` (0 = valid, 1 = symmetric pad); non-square kernels are always
    ``pad_mode='same'`` (stride 1), the ONNX-safe form of their symmetric padding.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int | tuple[int, int]): kernel size.
        stride (int): stride. Default 1.
        padding (int): symmetric padding for square kernels. Default 0.
        eps (float): BatchNorm eps. Default :data:`BN_EPS`.
        momentum (float): BatchNorm momentum (MindSpore convention). Default :data:`BN_MOMENTUM`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, eps=BN_EPS, momentum=BN_MOMENTUM):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if kh != kw:
            if stride != 1:
                raise ValueError("non-square Inception convs are stride 1")
            pad = {"pad_mode": "same"}
        else:
            pad = {"pad_mode": "pad", "padding": padding} if padding else {"pad_mode": "valid"}
        self.conv = nn.Conv2d(in_channels, out_channels, (kh, kw), stride=stride, has_bias=False, **pad)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)
        self.act = nn.ReLU()

    def construct(self, x):
        return self.act(self.bn(self.conv(x)))


def _chain(bn, *specs):
    """SequentialCell of BasicConvs from ``(in, out, kernel[, stride[, padding]])`` tuples; ``bn``: eps/momentum."""
    return nn.SequentialCell([BasicConv(*spec, **bn) for spec in specs])


def _avg_pool():
    return nn.AvgPool2d(3, 1, pad_mode="same")


def _max_pool():
    return nn.MaxPool2d(3, 2)


class Branches(nn.Cell):
    """Runs each branch on the input and concatenates their outputs along channels, in the order given.  The
    keyword names are the attribute names, hence the parameter names (``branch0``..., timm's)."""

    def __init__(self, **branches):
        super().__init__()
        for name, cell in branches.items():
            setattr(self, name, cell)
        self.names = tuple(branches)

    def construct(self, x):
        outputs = ()
        for name in self.names:
            outputs += (getattr(self, name)(x),)
        return ops.cat(outputs, 1)


def Mixed3a(**bn):  # noqa: N802 - the block's name in the paper and in timm
    """Stem step: [3x3/2 max-pool | 3x3/2 conv 64->96] -> 160 channels."""
    return Branches(maxpool=_max_pool(), conv=BasicConv(64, 96, 3, stride=2, **bn))


def Mixed4a(**bn):  # noqa: N802
    """Stem step: [1x1, 3x3] | [1x1, 1x7, 7x1, 3x3] -> 192 channels (valid 3x3: spatial -2)."""
    return Branches(branch0=_chain(bn, (160, 64, 1), (64, 96, 3)),
                    branch1=_chain(bn, (160, 64, 1), (64, 64, (1, 7)), (64, 64, (7, 1)), (64, 96, 3)))


def Mixed5a(**bn):  # noqa: N802
    """Stem step: [3x3/2 conv 192->192 | 3x3/2 max-pool] -> 384 channels."""
    return Branches(conv=BasicConv(192, 192, 3, stride=2, **bn), maxpool=_max_pool())


def InceptionA(**bn):  # noqa: N802
    """35x35 block, 384 -> 384: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | avg-pool-1x1."""
    return Branches(branch0=BasicConv(384, 96, 1, **bn),
                    branch1=_chain(bn, (384, 64, 1), (64, 96, 3, 1, 1)),
                    branch2=_chain(bn, (384, 64, 1), (64, 96, 3, 1, 1), (96, 96, 3, 1, 1)),
                    branch3=nn.SequentialCell([_avg_pool(), BasicConv(384, 96, 1, **bn)]))


def ReductionA(**bn):  # noqa: N802
    """35 -> 17 reduction, 384 -> 1024 (k, l, m, n = 192, 224, 256, 384)."""
    return Branches(branch0=BasicConv(384, 384, 3, stride=2, **bn),
                    branch1=_chain(bn, (384, 192, 1), (192, 224, 3, 1, 1), (224, 256, 3, 2)),
                    branch2=_max_pool())


def InceptionB(**bn):  # noqa: N802
    """17x17 block, 1024 -> 1024: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg-pool-1x1."""
    return Branches(branch0=BasicConv(1024, 384, 1, **bn),
                    branch1=_chain(bn, (1024, 192, 1), (192, 224, (1, 7)), (224, 256, (7, 1))),
                    branch2=_chain(bn, (1024, 192, 1), (192, 192, (7, 1)), (192, 224, (1, 7)), (224, 224, (7, 1)),
                                   (224, 256, (1, 7))),
                    branch3=nn.SequentialCell([_avg_pool(), BasicConv(1024, 128, 1, **bn)]))


def ReductionB(**bn):  # noqa: N802
    """17 -> 8 reduction, 1024 -> 1536."""
    return Branches(branch0=_chain(bn, (1024, 192, 1), (192, 192, 3, 2)),
                    branch1=_chain(bn, (1024, 256, 1), (256, 256, (1, 7)), (256, 320, (7, 1)), (320, 320, 3, 2)),
                    branch2=_max_pool())


class InceptionC(nn.Cell):
    """8x8 block, 1536 -> 1536, with split 1x3 | 3x1 outputs (timm attribute names)."""

    def __init__(self, **bn):
        super().__init__()
        self.branch0 = BasicConv(1536, 256, 1, **bn)
        self.branch1_0 = BasicConv(1536, 384, 1, **bn)
        self.branch1_1a = BasicConv(384, 256, (1, 3), **bn)
        self.branch1_1b = BasicConv(384, 256, (3, 1), **bn)
        self.branch2_0 = BasicConv(1536, 384, 1, **bn)
        self.branch2_1 = BasicConv(384, 448, (3, 1), **bn)
        self.branch2_2 = BasicConv(448, 512, (1, 3), **bn)
        self.branch2_3a = BasicConv(512, 256, (1, 3), **bn)
        self.branch2_3b = BasicConv(512, 256, (3, 1), **bn)
        self.branch3 = nn.SequentialCell([_avg_pool(), BasicConv(1536, 256, 1, **bn)])

    def construct(self, x):
        x1 = self.branch1_0(x)
        x2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return ops.cat((self.branch0(x), self.branch1_1a(x1), self.branch1_1b(x1),
                        self.branch2_3a(x2), self.branch2_3b(x2), self.branch3(x)), 1)


def _features(in_channels, **bn):
    """The 22-entry trunk, indices as timm's ``features``; ``bn``: BatchNorm eps/momentum of every conv."""
    stem = [BasicConv(in_channels, 32, 3, stride=2, **bn), BasicConv(32, 32, 3, **bn),
            BasicConv(32, 64, 3, padding=1, **bn), Mixed3a(**bn), Mixed4a(**bn), Mixed5a(**bn)]
    blocks = ([InceptionA(**bn) for _ in range(4)] + [ReductionA(**bn)] + [InceptionB(**bn) for _ in range(7)]
              + [ReductionB(**bn)] + [InceptionC(**bn) for _ in range(3)])
    return nn.SequentialCell(stem + blocks)


class InceptionV4(nn.Cell):
    """Inception-v4 classifier.

    Args:
        num_classes (int): classifier outputs. Default 1000.
        head (str): ``'upstream'`` (BN-Dropout-Dense-BN-LogSoftmax) or ``'reference'`` (Dropout-Dense).
        in_channels (int): input image channels. Default 3.
        dropout (float | None): drop probability in the head; ``None`` takes the head's default
            (0.8 upstream, 0.2 reference).  Dropout is active only in training mode.
        bn_eps (float): BatchNorm eps of the trunk's convs (1e-5 upstream, 1e-3 timm).
        bn_momentum (float): their BatchNorm momentum, MindSpore convention (0.997 upstream, 0.9 timm).
    """

    def __init__(self, num_classes=1000, head="upstream", in_channels=3, dropout=None, bn_eps=BN_EPS,
                 bn_momentum=BN_MOMENTUM):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.head_type = head
        self.features = _features(in_channels, eps=float(bn_eps), momentum=float(bn_momentum))
        p = DEFAULT_DROPOUT[head] if dropout is None else float(dropout)
        self.use_dropout = p > 0
        self.head_drop = nn.Dropout(p=p) if self.use_dropout else nn.Identity()
        self.upstream_head = head == "upstream"
        if self.upstream_head:
            self.head_bn = nn.BatchNorm1d(NUM_FEATURES, eps=0.001, momentum=0.1)
            self.last_linear = nn.Dense(NUM_FEATURES, num_classes, weight_init=XavierUniform(), bias_init="zeros")
            self.logits_bn = nn.BatchNorm1d(num_classes)
            self.log_softmax = nn.LogSoftmax(axis=1)
        else:
            self.last_linear = nn.Dense(NUM_FEATURES, num_classes)

    def forward_features(self, x):
        """Trunk output (N, 1536, H/32-ish, W/32-ish)."""
        return self.features(x)

    def construct(self, x):
        x = ops.mean(self.features(x), (2, 3))
        if self.upstream_head:
            x = self.head_bn(x)
        if self.use_dropout:
            x = self.head_drop(x)
        x = self.last_linear(x)
        if self.upstream_head:
            x = self.log_softmax(self.logits_bn(x))
        return x



# ---- upstream public name (src/inceptionv4.py) ----
def Inceptionv4(in_channels=3, classes=1000, k=192, l=224, m=256, n=384, is_train=True):  # noqa: N802, E741
    """Upstream ``Inceptionv4(in_channels=3, classes=1000, k=192, l=224, m=256, n=384, is_train=True)``: the
    upstream head (dropout only with ``is_train``), XavierUniform weights as upstream train.py sets them."""
    from model_zoo.inceptionv4.src.var_init import initialize

    if (k, l, m, n) != (192, 224, 256, 384):
        raise ValueError(f"Inception-v4's ReductionA has k, l, m, n = 192, 224, 256, 384; got {k}, {l}, {m}, {n}")
    return initialize(InceptionV4(classes, head="upstream", in_channels=in_channels, dropout=None if is_train else 0.0))
