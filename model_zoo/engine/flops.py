"""Multiply-accumulates per image, counted on the real network with forward hooks (PyNative).

Convolutions and Dense layers only (the usual convention, as timm's ``infer_gmacs``): a conv output element
costs ``in_channels / groups * kh * kw`` MACs, a Dense output element ``in_channels``.  FLOPs = 2 x MACs.
"""
import numpy as np


def forward_with_hooks(net, image_size, hooks, in_channels=3):
    """One PyNative forward pass on a (1, C, H, W) input with ``hooks`` ({cell class: forward hook}) installed."""
    import mindspore as ms

    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    handles = []
    for _, cell in net.cells_and_names():
        for kind, hook in hooks.items():
            if isinstance(cell, kind):
                handles.append(cell.register_forward_hook(hook))
    try:
        net.set_train(False)
        height, width = image_size
        net(ms.Tensor(np.zeros((1, in_channels, height, width), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=previous)


def count_macs(net, image_size, in_channels=3):
    """MACs of one forward pass on a (1, C, H, W) input."""
    from mindspore import nn

    total = [0]

    def conv_hook(cell, inputs, output):
        kh, kw = cell.kernel_size
        total[0] += int(np.prod(output.shape)) * cell.in_channels // cell.group * kh * kw

    def dense_hook(cell, inputs, output):
        total[0] += int(np.prod(output.shape)) * cell.in_channels

    forward_with_hooks(net, image_size, {nn.Conv2d: conv_hook, nn.Dense: dense_hook}, in_channels)
    return total[0]


def conv_calls(net, image_size, in_channels=3):
    """Every ``nn.Conv2d`` call of one forward pass: [(cell, input shape (1, C, H, W))], in call order."""
    from mindspore import nn

    calls = []
    forward_with_hooks(net, image_size, {nn.Conv2d: lambda cell, inputs, output: calls.append(
        (cell, tuple(inputs[0].shape)))}, in_channels)
    return calls
