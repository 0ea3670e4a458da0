"""Weight-initialisation recipes built on MindSpore's own initializers.

``KaimingUniform(a=sqrt(5))`` of the upstream ``var_init.py`` is ``HeUniform(negative_slope=sqrt(5))``; upstream
``KaimingNormal(mode='fan_out', nonlinearity='relu')`` is ``HeNormal(mode='fan_out', nonlinearity='relu')`` (the
slope is ignored for relu).  Each model's ``src/var_init.py`` states which recipe it uses.
"""
import math

import numpy as np
from mindspore import nn
from mindspore.common import initializer as init


def _fan_in(shape):
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive


def _set(param, initializer):
    param.set_data(init.initializer(initializer, param.shape, param.dtype))


def torch_default(net):
    """PyTorch's default (upstream ``default_recurisive_init``): weights U(+-1/sqrt(fan_in)) via
    HeUniform(a=sqrt(5)), biases U(+-1/sqrt(fan_in))."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.Conv2d, nn.Dense)):
            _set(cell.weight, init.HeUniform(negative_slope=math.sqrt(5)))
            if cell.bias is not None:
                _set(cell.bias, init.Uniform(1.0 / math.sqrt(_fan_in(cell.weight.shape))))


def kaiming_normal_convs(net, zero_bias=True):
    """Conv weights HeNormal(fan_out, relu): std = sqrt(2 / (out_channels * k * k)); conv biases zero."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            _set(cell.weight, init.HeNormal(mode="fan_out", nonlinearity="relu"))
            if zero_bias and cell.bias is not None:
                _set(cell.bias, init.Zero())


def xavier_uniform_convs(net):
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            _set(cell.weight, init.XavierUniform())


def normal_dense(net, sigma=0.01, zero_bias=True, cells=(nn.Dense,)):
    """Weights of ``cells`` (Dense by default) N(0, sigma), biases zero."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, cells):
            _set(cell.weight, init.Normal(sigma))
            if zero_bias and cell.bias is not None:
                _set(cell.bias, init.Zero())


def zero_dense_bias(net):
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Dense) and cell.bias is not None:
            _set(cell.bias, init.Zero())


def batchnorm_defaults(net):
    for name, param in net.parameters_and_names():
        if name.endswith(".gamma"):
            _set(param, init.One())
        elif name.endswith(".beta"):
            _set(param, init.Zero())


def xavier_all_weights(net):
    """Every trainable weight except beta/gamma/bias gets XavierUniform (an upstream recipe's train.py)."""
    for param in net.trainable_params():
        if not any(key in param.name for key in ("beta", "gamma", "bias")):
            _set(param, init.XavierUniform())
        elif "bias" in param.name:
            _set(param, init.Zero())


# upstream src/utils/var_init.py names: Kaiming initializers and the PyTorch-default cell init
class KaimingNormal(init.HeNormal):
    """Upstream ``KaimingNormal(a=0, mode='fan_in', nonlinearity='leaky_relu')`` (MindSpore's HeNormal)."""

    def __init__(self, a=0, mode="fan_in", nonlinearity="leaky_relu"):
        super().__init__(negative_slope=a, mode=mode, nonlinearity=nonlinearity)


class KaimingUniform(init.HeUniform):
    """Upstream ``KaimingUniform(a=0, mode='fan_in', nonlinearity='leaky_relu')`` (MindSpore's HeUniform)."""

    def __init__(self, a=0, mode="fan_in", nonlinearity="leaky_relu"):
        super().__init__(negative_slope=a, mode=mode, nonlinearity=nonlinearity)


default_recurisive_init = torch_default  # (sic) upstream spelling
