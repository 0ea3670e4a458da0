"""The upstream MindSpore ModelZoo networks, written for the tests from their layout in ``mindspore-ai/models``
(``official/cv/VGG/vgg19/src/vgg.py``, ``research/cv/densenet/src/network/densenet.py``,
``official/cv/Inception/inceptionv4/src/inceptionv4.py``): the same cell tree (so the same parameter names and
shapes) and the same numerics (MindSpore's ``MaxPool2d(pad_mode='same')`` stem, ``Conv2dBnAct`` / ``DenseBnAct``
defaults).  They are the reference the zoo's networks must reproduce on upstream weights, and
:func:`training_checkpoint` saves them with the optimizer and bookkeeping entries a real upstream training
checkpoint has (``tests/data/upstream_checkpoints/*.txt`` lists those of the real files).
"""
import re
import shlex
from collections import OrderedDict
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn, ops

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "upstream_checkpoints"
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def listed_entries(name):
    """{entry name: shape} of a real upstream training checkpoint (``tests/data/upstream_checkpoints``)."""
    out = {}
    for line in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        entry, shape, _ = line.split("\t")
        out[entry] = tuple(int(v) for v in shape.strip("[]").split(",") if v.strip())
    return out


def readme_commands(recipe):
    """The commands of a model README's "Bringing your weights" block, as argument lists (after ``python``)."""
    text = (ROOT / "model_zoo" / recipe / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Bringing your weights"):]
    block = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("python ")]


# ---------------------------------------------------------------------------------------------------------------
# VGG (official/cv/VGG/vgg19/src/vgg.py: Vgg, _make_layer)
# ---------------------------------------------------------------------------------------------------------------

class UpstreamVgg(nn.Cell):
    """``layers`` (conv [BN] ReLU ... MaxPool) + ``classifier`` (Dense-ReLU-Dropout x2, Dense).  Upstream fixes the
    first Dense at 512*7*7 (224x224 inputs); ``in_features`` lets a test use 512 (32x32)."""

    def __init__(self, num_classes=1000, batch_norm=False, has_bias=False, pad_mode="pad", padding=1,
                 in_features=512 * 7 * 7):
        super().__init__()
        layers, channels = [], 3
        for v in VGG19:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(channels, v, 3, padding=padding, pad_mode=pad_mode, has_bias=has_bias))
            layers += [nn.BatchNorm2d(v), nn.ReLU()] if batch_norm else [nn.ReLU()]
            channels = v
        self.layers = nn.SequentialCell(layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.SequentialCell([nn.Dense(in_features, 4096), nn.ReLU(), nn.Dropout(p=0.0),
                                             nn.Dense(4096, 4096), nn.ReLU(), nn.Dropout(p=0.0),
                                             nn.Dense(4096, num_classes)])

    def construct(self, x):
        return self.classifier(self.flatten(self.layers(x)))


# ---------------------------------------------------------------------------------------------------------------
# DenseNet (research/cv/densenet/src/network/densenet.py: DenseNet121, DenseNet100)
# ---------------------------------------------------------------------------------------------------------------

def _conv(cin, cout, kernel, stride=1, padding=0):
    return nn.Conv2d(cin, cout, kernel, stride=stride, has_bias=False, padding=padding, pad_mode="pad")


class _DenseLayer(nn.Cell):
    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1, self.relu1, self.conv1 = nn.BatchNorm2d(cin), nn.ReLU(), _conv(cin, bn_size * growth, 1)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = _conv(bn_size * growth, growth, 3, padding=1)

    def construct(self, x):
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class _DenseBlock(nn.Cell):
    def __init__(self, layers, cin, bn_size, growth):
        super().__init__()
        self.cell_list = nn.CellList([_DenseLayer(cin + i * growth, growth, bn_size) for i in range(layers)])

    def construct(self, x):
        for layer in self.cell_list:
            x = ops.cat((x, layer(x)), 1)
        return x


class _Transition(nn.Cell):
    def __init__(self, cin, cout, avgpool):
        super().__init__()
        pool = nn.AvgPool2d(kernel_size=2, stride=2) if avgpool else nn.MaxPool2d(kernel_size=2, stride=2)
        self.features = nn.SequentialCell(OrderedDict([("norm", nn.BatchNorm2d(cin)), ("relu", nn.ReLU()),
                                                       ("conv", _conv(cin, cout, 1)), ("pool", pool)]))

    def construct(self, x):
        return self.features(x)


class _Densenet(nn.Cell):
    def __init__(self, growth, blocks, init_features=None, bn_size=4):
        super().__init__()
        layers = OrderedDict()
        if init_features:
            layers["conv0"] = _conv(3, init_features, 7, stride=2, padding=3)
            layers["norm0"], layers["relu0"] = nn.BatchNorm2d(init_features), nn.ReLU()
            layers["pool0"] = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="same")
            channels = init_features
        else:
            layers["conv0"] = _conv(3, growth * 2, 3, padding=1)
            layers["norm0"], layers["relu0"] = nn.BatchNorm2d(growth * 2), nn.ReLU()
            channels = growth * 2
        for i, count in enumerate(blocks):
            layers[f"denseblock{i + 1}"] = _DenseBlock(count, channels, bn_size, growth)
            channels += count * growth
            if i != len(blocks) - 1:
                layers[f"transition{i + 1}"] = _Transition(channels, channels // 2, avgpool=not init_features)
                channels //= 2
        layers["norm5"], layers["relu5"] = nn.BatchNorm2d(channels), nn.ReLU()
        self.features = nn.SequentialCell(layers)
        self.out_channels = channels

    def construct(self, x):
        return self.features(x)


class _CommonHead(nn.Cell):
    def __init__(self, num_classes, channels):
        super().__init__()
        self.fc = nn.Dense(channels, num_classes, has_bias=True)

    def construct(self, x):
        return self.fc(ops.mean(x, (2, 3)))


class UpstreamDenseNet(nn.Cell):
    """``backbone`` + ``head``: DenseNet121 (``cifar=False``) or DenseNet100 (``cifar=True``)."""

    def __init__(self, num_classes=1000, cifar=False):
        super().__init__()
        self.backbone = _Densenet(12, (16, 16, 16)) if cifar else _Densenet(32, (6, 12, 24, 16), 64)
        self.head = _CommonHead(num_classes, self.backbone.out_channels)

    def construct(self, x):
        return self.head(self.backbone(x))


# ---------------------------------------------------------------------------------------------------------------
# InceptionV4 (official/cv/Inception/inceptionv4/src/inceptionv4.py: Inceptionv4)
# ---------------------------------------------------------------------------------------------------------------

class Conv2d(nn.Cell):
    """Upstream's wrapper: ``conv`` = Conv2dBnAct (BatchNorm eps 1e-5, momentum 0.997, ReLU)."""

    def __init__(self, cin, cout, kernel, stride=1, pad_mode="valid", padding=0):
        super().__init__()
        self.conv = nn.Conv2dBnAct(cin, cout, kernel, stride=stride, pad_mode=pad_mode, padding=padding,
                                   has_bias=False, has_bn=True, activation="relu")

    def construct(self, x):
        return self.conv(x)


def _seq(*convs):
    return nn.SequentialCell([Conv2d(*c[:-1], **c[-1]) if isinstance(c[-1], dict) else Conv2d(*c) for c in convs])


SAME = {"pad_mode": "same"}
PAD1 = {"pad_mode": "pad", "padding": 1}


class Stem(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv2d_1a_3x3 = Conv2d(3, 32, 3, stride=2)
        self.conv2d_2a_3x3 = Conv2d(32, 32, 3)
        self.conv2d_2b_3x3 = Conv2d(32, 64, 3, **PAD1)
        self.mixed_3a_branch_0 = nn.MaxPool2d(3, stride=2)
        self.mixed_3a_branch_1 = Conv2d(64, 96, 3, stride=2)
        self.mixed_4a_branch_0 = _seq((160, 64, 1), (64, 96, 3))
        self.mixed_4a_branch_1 = _seq((160, 64, 1), (64, 64, (1, 7), SAME), (64, 64, (7, 1), SAME), (64, 96, 3))
        self.mixed_5a_branch_0 = Conv2d(192, 192, 3, stride=2)
        self.mixed_5a_branch_1 = nn.MaxPool2d(3, stride=2)

    def construct(self, x):
        x = self.conv2d_2b_3x3(self.conv2d_2a_3x3(self.conv2d_1a_3x3(x)))
        x = ops.cat((self.mixed_3a_branch_0(x), self.mixed_3a_branch_1(x)), 1)
        x = ops.cat((self.mixed_4a_branch_0(x), self.mixed_4a_branch_1(x)), 1)
        return ops.cat((self.mixed_5a_branch_0(x), self.mixed_5a_branch_1(x)), 1)


def _avg_then(cin, cout):
    return nn.SequentialCell([nn.AvgPool2d(kernel_size=3, stride=1, pad_mode="same"), Conv2d(cin, cout, 1)])


class _Branches(nn.Cell):
    """Upstream's InceptionA/B and ReductionA/B: ``branch_0`` .. ``branch_N`` of the input, concatenated (run in
    PyNative mode)."""

    def __init__(self, *branches):
        super().__init__()
        self.count = len(branches)
        for i, branch in enumerate(branches):
            setattr(self, f"branch_{i}", branch)

    def construct(self, x):
        return ops.cat([getattr(self, f"branch_{i}")(x) for i in range(self.count)], 1)


def inception_a():
    return _Branches(Conv2d(384, 96, 1), _seq((384, 64, 1), (64, 96, 3, PAD1)),
                     _seq((384, 64, 1), (64, 96, 3, PAD1), (96, 96, 3, PAD1)), _avg_then(384, 96))


def reduction_a():
    return _Branches(Conv2d(384, 384, 3, stride=2),
                     _seq((384, 192, 1), (192, 224, 3, PAD1), (224, 256, 3, {"stride": 2})), nn.MaxPool2d(3, stride=2))


def inception_b():
    return _Branches(Conv2d(1024, 384, 1), _seq((1024, 192, 1), (192, 224, (1, 7), SAME), (224, 256, (7, 1), SAME)),
                     _seq((1024, 192, 1), (192, 192, (7, 1), SAME), (192, 224, (1, 7), SAME), (224, 224, (7, 1), SAME),
                          (224, 256, (1, 7), SAME)), _avg_then(1024, 128))


def reduction_b():
    return _Branches(_seq((1024, 192, 1), (192, 192, 3, {"stride": 2})),
                     _seq((1024, 256, 1), (256, 256, (1, 7), SAME), (256, 320, (7, 1), SAME),
                          (320, 320, 3, {"stride": 2})), nn.MaxPool2d(3, stride=2))


class InceptionC(nn.Cell):
    def __init__(self):
        super().__init__()
        self.branch_0 = Conv2d(1536, 256, 1)
        self.branch_1 = Conv2d(1536, 384, 1)
        self.branch_1_1 = Conv2d(384, 256, (1, 3), **SAME)
        self.branch_1_2 = Conv2d(384, 256, (3, 1), **SAME)
        self.branch_2 = _seq((1536, 384, 1), (384, 448, (3, 1), SAME), (448, 512, (1, 3), SAME))
        self.branch_2_1 = Conv2d(512, 256, (1, 3), **SAME)
        self.branch_2_2 = Conv2d(512, 256, (3, 1), **SAME)
        self.branch_3 = _avg_then(1536, 256)

    def construct(self, x):
        x1, x2 = self.branch_1(x), self.branch_2(x)
        return ops.cat((self.branch_0(x), self.branch_1_1(x1), self.branch_1_2(x1), self.branch_2_1(x2),
                        self.branch_2_2(x2), self.branch_3(x)), 1)


class UpstreamInceptionV4(nn.Cell):
    """``features`` (Stem, 4 A, ReductionA, 7 B, ReductionB, 3 C), mean, ``bn0``, Dropout, ``softmax`` (DenseBnAct
    with a LogSoftmax)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        blocks = ([Stem()] + [inception_a() for _ in range(4)] + [reduction_a()] + [inception_b() for _ in range(7)]
                  + [reduction_b()] + [InceptionC() for _ in range(3)])
        self.features = nn.SequentialCell(blocks)
        self.softmax = nn.DenseBnAct(1536, num_classes, weight_init="XavierUniform", has_bias=True, has_bn=True,
                                     activation="logsoftmax")
        self.dropout = nn.Dropout(p=0.0)
        self.bn0 = nn.BatchNorm1d(1536, eps=0.001, momentum=0.1)

    def construct(self, x):
        return self.softmax(self.dropout(self.bn0(ops.mean(self.features(x), (2, 3)))))


# ---------------------------------------------------------------------------------------------------------------
# weights and checkpoints
# ---------------------------------------------------------------------------------------------------------------

def randomize(net, seed=0):
    """Random BatchNorm statistics and affine parameters and random biases (constants after init), so that every
    tensor matters; eval mode."""
    rng = np.random.default_rng(seed)
    for name, param in net.parameters_and_names():
        n = param.shape
        if name.endswith(("gamma", "moving_variance")):
            param.set_data(ms.Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
        elif name.endswith(("beta", "moving_mean", "bias")):
            param.set_data(ms.Tensor(rng.normal(0.0, 0.1, n).astype(np.float32)))
    net.set_train(False)
    return net


def scale_outputs(net, last, images, target=10.0):
    """Scale the parameters ``last`` (names) so the largest |output| on ``images`` is ``target``."""
    params = dict(net.parameters_and_names())
    peak = float(np.abs(net(ms.Tensor(images)).asnumpy()).max())
    for name in last:
        params[name].set_data(ms.Tensor(params[name].asnumpy() * (target / peak)))
    return float(np.abs(net(ms.Tensor(images)).asnumpy()).max())


def training_entries(net, optimizer="momentum", prefix="", loss_scale=False, lr_steps=1000):
    """[(name, Tensor)] of a training checkpoint as upstream train.py writes it: the network's entries (with the
    training wrapper's ``prefix``), the optimizer's (MindSpore's own Momentum / RMSProp objects: slots, global_step,
    learning_rate, momentum) and, with ``loss_scale``, the dynamic loss scale's."""
    params = net.trainable_params()
    lr = ms.Tensor(np.linspace(0.1, 0.0, lr_steps).astype(np.float32))
    if optimizer == "momentum":
        opt = nn.Momentum(params, lr, 0.9)
    else:
        opt = nn.RMSProp(params, lr, decay=0.9, momentum=0.9, epsilon=1.0)
    entries = [(prefix + name, p) for name, p in net.parameters_and_names()]
    own = {name for name, _ in net.parameters_and_names()}
    entries += [(p.name, p) for p in opt.get_parameters() if p.name not in own]
    if loss_scale:
        entries.append(("scale_sense", ms.Tensor(np.float32(65536.0))))
        entries += [(name, ms.Tensor(np.int32(0))) for name in ("current_iterator_step",
                                                                "last_overflow_iterator_step")]
    return entries


def save(entries, path):
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(value.asnumpy() if hasattr(value, "asnumpy") else value)}
                        for name, value in entries], str(path))
    return path
