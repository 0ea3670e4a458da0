"""Multiply-accumulates per image, counted on the real network with forward hooks (PyNative).

Convolutions and Dense layers only (the usual convention, as timm's ``infer_gmacs``): a conv output element
costs ``in_channels / groups * kh * kw`` MACs, a Dense output element ``in_channels``.  FLOPs = 2 x MACs.
"""
import numpy as np


def count_macs(net, image_size, in_channels=3):
    """MACs of one forward pass on a (1, C, H, W) input."""
    import mindspore as ms
    from mindspore import nn

    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    total = [0]

    def conv_hook(cell, inputs, output):
        kh, kw = cell.kernel_size
        total[0] += int(np.prod(output.shape)) * cell.in_channels // cell.group * kh * kw

    def dense_hook(cell, inputs, output):
        total[0] += int(np.prod(output.shape)) * cell.in_channels

    handles = []
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            handles.append(cell.register_forward_hook(conv_hook))
        elif isinstance(cell, nn.Dense):
            handles.append(cell.register_forward_hook(dense_hook))
    try:
        net.set_train(False)
        height, width = image_size
        net(ms.Tensor(np.zeros((1, in_channels, height, width), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=previous)
    return total[0]
