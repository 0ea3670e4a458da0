"""DenseNet network definitions: shapes, parameter counts and names, gradients, pooling variants, init, ONNX."""
import math

import model_zoo  # noqa: F401  (CPU fast path before MindSpore loads)
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from nethelpers import count_params, parameter_names, random_input, randomize_bn

from model_zoo.densenet121.src.var_init import initialize
from model_zoo.densenet121.src import densenet as dn

# torchvision densenet*.parameters() at 1000 classes (BN weight/bias count, running stats do not)
TORCHVISION_COUNTS = {"densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480,
                      "densenet201": 20_013_928}
DENSENET100_COUNT = 769_210  # DenseNet-BC (L=100, k=12), 10 classes; the paper quotes 0.8M


_count = count_params
_randomize_bn = randomize_bn


def _input(batch=2, size=32, seed=0):
    return random_input(batch, size, seed)


@pytest.mark.parametrize("name,classes", [("densenet121", 10), ("densenet161", 10), ("densenet169", 10),
                                          ("densenet201", 10), ("densenet100", 10)])
def test_forward_shape_at_32(name, classes):
    net = getattr(dn, name)(num_classes=classes)
    net.set_train(False)
    out = net(_input())
    assert out.shape == (2, classes)
    assert np.isfinite(out.asnumpy()).all()


@pytest.mark.parametrize("name", sorted(TORCHVISION_COUNTS))
def test_parameter_count_equals_torchvision(name):
    assert _count(getattr(dn, name)(num_classes=1000)) == TORCHVISION_COUNTS[name]


def test_densenet121_count_is_independent_of_transition_pool():
    assert _count(dn.densenet121(transition_pool="max")) == _count(dn.densenet121(transition_pool="avg")) == 7_978_856


def test_densenet100_count_and_channels():
    net = dn.densenet100()
    assert _count(net) == DENSENET100_COUNT
    assert net.num_features == 342 and net.classifier.in_channels == 342  # 24 -> 216 -> 108 -> 300 -> 150 -> 342
    assert net.features.conv0.kernel_size == (3, 3) and "pool0" not in net.features._cells


def test_parameter_names_mirror_torchvision():
    net = dn.densenet121()
    expected = {"features.conv0.weight", "features.norm0.gamma", "features.norm0.beta", "features.norm0.moving_mean",
                "features.norm0.moving_variance", "features.denseblock1.denselayer1.norm1.gamma",
                "features.denseblock1.denselayer1.conv1.weight", "features.denseblock1.denselayer1.norm2.beta",
                "features.denseblock1.denselayer1.conv2.weight", "features.denseblock4.denselayer16.conv2.weight",
                "features.transition1.norm.gamma", "features.transition1.conv.weight",
                "features.transition3.conv.weight", "features.norm5.moving_variance", "classifier.weight",
                "classifier.bias"}
    names = parameter_names(net, expected, heads=("features.", "classifier."))
    # every torchvision key maps one-to-one (4 BN tensors per BN, 1 per conv, 2 for the classifier)
    bn = sum(isinstance(c, nn.BatchNorm2d) for _, c in net.cells_and_names())
    conv = sum(isinstance(c, nn.Conv2d) for _, c in net.cells_and_names())
    assert len(names) == 4 * bn + conv + 2


def _assert_every_param_gets_gradient(net, batch=4, size=32):
    net.set_train(True)
    loss_fn = nn.CrossEntropyLoss()
    params = net.trainable_params()
    x, y = _input(batch, size), ms.Tensor(np.arange(batch, dtype=np.int32) % 10)

    def forward(inputs, labels):
        return loss_fn(net(inputs), labels)

    loss, grads = ms.value_and_grad(forward, None, params)(x, y)
    assert np.isfinite(loss.asnumpy())
    assert len(grads) == len(params)
    dead = [p.name for p, g in zip(params, grads) if not np.any(g.asnumpy() != 0)]
    assert dead == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["densenet121", "densenet100"])
def test_backward_reaches_every_parameter(name):
    # random beta breaks the BN scale invariance that otherwise makes stem-gamma gradients eps-sized
    _assert_every_param_gets_gradient(_randomize_bn(getattr(dn, name)(num_classes=10)))


@pytest.mark.slow
def test_transition_pool_switch_changes_op_and_output():
    max_net = dn.densenet121(num_classes=10, transition_pool="max")
    avg_net = dn.densenet121(num_classes=10, transition_pool="avg")
    for i in (1, 2, 3):
        assert isinstance(getattr(max_net.features, f"transition{i}").pool, nn.MaxPool2d)
        assert isinstance(getattr(avg_net.features, f"transition{i}").pool, nn.AvgPool2d)
    assert isinstance(dn.densenet100().features.transition1.pool, nn.AvgPool2d)
    assert ms.load_param_into_net(avg_net, dict(max_net.parameters_and_names())) == ([], [])
    max_net.set_train(False)
    avg_net.set_train(False)
    x = _input(size=64)
    assert not np.allclose(max_net(x).asnumpy(), avg_net(x).asnumpy(), atol=1e-5)
    with pytest.raises(ValueError):
        dn.densenet121(transition_pool="lp")


def _torch_maxpool_reference(x, kernel=3, stride=2, padding=1):
    """numpy MaxPool2d with torch semantics (-inf padding, floor mode)."""
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    out_h = (x.shape[2] + 2 * padding - kernel) // stride + 1
    out_w = (x.shape[3] + 2 * padding - kernel) // stride + 1
    out = np.empty(x.shape[:2] + (out_h, out_w), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (112, 112)])
def test_stem_pool_matches_torch_maxpool_with_padding_1(size):
    # the stem pool follows a ReLU, so inputs are non-negative
    x = np.abs(np.random.default_rng(1).standard_normal((2, 3) + size)).astype(np.float32)
    out = dn.StemMaxPool(3, 2, 1)(ms.Tensor(x)).asnumpy()
    ref = _torch_maxpool_reference(x)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)
    assert isinstance(dn.densenet121(stem_pool="symmetric").features.pool0, dn.StemMaxPool)


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (112, 112)])
def test_upstream_stem_pool_pads_as_tensorflow_same(size):
    """stem_pool='same' (upstream, the default): TF SAME padding, bottom/right only for even sizes."""
    x = np.abs(np.random.default_rng(2).standard_normal((2, 3) + size)).astype(np.float32)
    pool = dn.densenet121().features.pool0
    out = pool(ms.Tensor(x)).asnumpy()
    pads = []
    for length in size:
        total = max((-(-length // 2) - 1) * 2 + 3 - length, 0)
        pads.append((total // 2, total - total // 2))
    ref = _torch_maxpool_reference(np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=-np.inf), padding=0)
    assert [p[0] for p in pads] == [int(length % 2) for length in size]  # even: nothing at the top/left
    np.testing.assert_array_equal(out, ref)
    if size == (112, 112):  # torchvision's symmetric padding picks other windows
        assert not np.array_equal(out, _torch_maxpool_reference(x))
    with pytest.raises(ValueError, match="stem_pool"):
        dn.densenet121(stem_pool="torch")


def test_init_upstream():
    net = initialize(dn.densenet121(num_classes=1000))
    conv = net.features.denseblock3.denselayer5.conv2  # 128 -> 32, 3x3: fan_out = 32 * 9
    std = float(conv.weight.asnumpy().std())
    assert abs(std - math.sqrt(2.0 / (32 * 9))) < 0.1 * math.sqrt(2.0 / (32 * 9))
    weight = net.classifier.weight.asnumpy()
    assert np.abs(weight).max() <= 1.0 / math.sqrt(1024) + 1e-7  # KaimingUniform(a=sqrt(5)) bound
    assert not np.any(net.classifier.bias.asnumpy())
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            assert np.all(cell.gamma.asnumpy() == 1) and not np.any(cell.beta.asnumpy())


def test_onnx_export_matches_onnxruntime(tmp_path):
    import onnxruntime as ort
    net = _randomize_bn(dn.densenet121(num_classes=10), seed=3)  # fresh instance: one ONNX export per Cell
    net.set_train(False)
    x = _input(batch=2, size=32, seed=4)
    expected = net(x).asnumpy()
    path = str(tmp_path / "densenet121.onnx")
    ms.onnx.export(net, x, file_name=path, input_names=["x"], output_names=["logits"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.asnumpy()})[0]
    assert got.shape == expected.shape == (2, 10)
    assert np.abs(got - expected).max() < 1e-4
