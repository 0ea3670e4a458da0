"""VGG family: every variant builds, runs forward and backward at 32x32, and has the published size."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from model_zoo.engine.registry import create_model, list_models, model_spec

VARIANTS = ["vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg16_c", "vgg16_c_bn",
            "vgg19", "vgg19_bn"]
# published parameter counts (torchvision / timm / mmcls), conv bias on, 1000 classes
PUBLISHED = {"vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
             "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248}


def count(net):
    return sum(int(p.size) for p in net.trainable_params())


def test_registry_lists_every_variant():
    assert sorted(VARIANTS) == list_models(recipe="vgg19")
    assert model_spec("A-LRN").name == "vgg11_lrn" and model_spec("C").name == "vgg16_c"
    assert model_spec("E").name == "vgg19"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_match_published(name):
    with_bias = count(create_model(name, num_classes=1000, has_bias=True))
    assert with_bias == PUBLISHED[name]
    without = create_model(name, num_classes=1000, has_bias=False)
    conv_bias = sum(c.out_channels for _, c in without.cells_and_names() if isinstance(c, nn.Conv2d))
    assert count(without) == PUBLISHED[name] - conv_bias


def test_head_is_upstream_at_224_and_sized_to_the_input_elsewhere():
    net = create_model("vgg19", num_classes=1000, image_size=(224, 224))
    dims = [(c.in_channels, c.out_channels) for _, c in net.classifier.cells_and_names() if isinstance(c, nn.Dense)]
    assert dims == [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]
    small = create_model("vgg19", num_classes=10, image_size=(64, 96))
    assert small.classifier[0].in_channels == 512 * 2 * 3
    with pytest.raises(ValueError, match="at least 32x32"):
        create_model("vgg11", image_size=(16, 32))


def test_paper_variants_have_their_special_layers():
    lrn = create_model("vgg11_lrn", num_classes=10, image_size=(32, 32))
    from model_zoo.vgg19.src.vgg import LocalResponseNorm

    assert isinstance(lrn.features[2], LocalResponseNorm)
    x = np.random.default_rng(0).standard_normal((2, 64, 5, 5)).astype(np.float32)
    x = x * 30.0  # large enough for the normalisation to matter
    squares = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(squares[:, i:i + 64] for i in range(5))
    reference = x / (2.0 + 1e-4 * window) ** 0.75                   # Krizhevsky et al. 2012, k=2 n=5
    np.testing.assert_allclose(LocalResponseNorm(64)(ms.Tensor(x)).asnumpy(), reference, rtol=1e-5, atol=1e-5)
    c_net = create_model("vgg16_c", num_classes=10, image_size=(32, 32))
    kernels = [c.kernel_size for _, c in c_net.cells_and_names() if isinstance(c, nn.Conv2d)]
    assert kernels.count((1, 1)) == 3 and len(kernels) == 13


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_and_backward_at_32(name):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    net = create_model(name, num_classes=10, image_size=(32, 32), dropout=0.0)
    net.set_train(True)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    y = ms.Tensor(np.array([1, 7], dtype=np.int32))
    out = net(x)
    assert out.shape == (2, 10) and np.isfinite(out.asnumpy()).all()
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    params = net.trainable_params()
    grad_fn = ms.value_and_grad(lambda a, b: loss_fn(net(a), b), None, params)
    loss, grads = grad_fn(x, y)
    assert np.isfinite(float(loss.asnumpy()))
    dead = [p.name for p, g in zip(params, grads) if not np.any(g.asnumpy() != 0)]
    assert not dead, f"parameters without gradient: {dead}"
