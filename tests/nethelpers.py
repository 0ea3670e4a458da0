"""Helpers shared by the network tests."""
import mindspore as ms
import numpy as np
from mindspore import nn


def count_params(net):
    return sum(int(p.size) for p in net.trainable_params())


def random_input(batch, size, seed=0):
    return ms.Tensor(np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32))


def randomize_bn(net, seed=0):
    """Random gamma/beta/moving stats on every BatchNorm (2d and 1d), so that BN folding (ONNX) and BN gradients
    are really exercised."""
    rng = np.random.default_rng(seed)
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = cell.num_features
            cell.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.beta.set_data(ms.Tensor(rng.normal(0, 0.2, n).astype(np.float32)))
            cell.moving_mean.set_data(ms.Tensor(rng.normal(0, 0.2, n).astype(np.float32)))
            cell.moving_variance.set_data(ms.Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
    return net


def parameter_names(net, expected, heads):
    """The network's parameter names, after checking that they include ``expected``, all start with one of ``heads``
    and equal each Parameter's own name (checkpoint keys == hierarchical names)."""
    names = {name for name, _ in net.parameters_and_names()}
    assert expected <= names, sorted(expected - names)
    assert all(n.startswith(heads) for n in names)
    assert all(p.name == n for n, p in net.parameters_and_names())
    return names
