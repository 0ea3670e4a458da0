"""InceptionV4 network definition: shapes, smallest input, gradients, heads, ONNX-safe construction, init."""
import model_zoo  # noqa: F401  (CPU fast path before MindSpore loads)
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from nethelpers import count_params, parameter_names, random_input, randomize_bn

from model_zoo.inceptionv4.src.var_init import initialize
from model_zoo.inceptionv4.src import inceptionv4 as iv4

REFERENCE_COUNT = 42_679_816  # timm inception_v4, 1000 classes
UPSTREAM_COUNT = REFERENCE_COUNT + 2 * 1536 + 2 * 1000  # + BatchNorm1d(1536) + BatchNorm1d(classes)
MIN = iv4.MIN_INPUT_SIZE


_count = count_params
_randomize_bn = randomize_bn


def _input(batch=2, size=MIN, seed=0):
    return random_input(batch, size, seed)


@pytest.mark.slow
@pytest.mark.parametrize("head", iv4.HEADS)
def test_forward_shape_at_min_input_size(head):
    net = iv4.InceptionV4(num_classes=7, head=head)
    net.set_train(False)
    assert net.forward_features(_input()).shape == (2, 1536, 1, 1)
    out = net(_input()).asnumpy()
    assert out.shape == (2, 7) and np.isfinite(out).all()
    if head == "upstream":  # log-probabilities
        np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-5)


def test_min_input_size_is_the_smallest():
    assert MIN == 75
    net = iv4.InceptionV4(num_classes=3, head="reference")
    net.set_train(False)
    with pytest.raises((ValueError, RuntimeError)):
        net(_input(batch=1, size=MIN - 1))


@pytest.mark.slow
def test_forward_at_299():
    net = iv4.InceptionV4(num_classes=1000, head="reference")
    net.set_train(False)
    assert net.forward_features(_input(batch=1, size=299)).shape == (1, 1536, 8, 8)


@pytest.mark.parametrize("head,expected", [("reference", REFERENCE_COUNT), ("upstream", UPSTREAM_COUNT)])
def test_parameter_counts(head, expected):
    assert _count(iv4.InceptionV4(num_classes=1000, head=head)) == expected


@pytest.mark.slow
@pytest.mark.parametrize("head", iv4.HEADS)
def test_backward_reaches_every_parameter(head):
    net = _randomize_bn(iv4.InceptionV4(num_classes=10, head=head))
    net.set_train(True)
    loss_fn = nn.CrossEntropyLoss()
    params = net.trainable_params()

    def forward(inputs, labels):
        return loss_fn(net(inputs), labels)

    loss, grads = ms.value_and_grad(forward, None, params)(_input(batch=4), ms.Tensor(np.arange(4, dtype=np.int32)))
    assert np.isfinite(loss.asnumpy())
    grads = {p.name: np.abs(g.asnumpy()).max() for p, g in zip(params, grads)}
    assert len(grads) == len(params)
    if head == "upstream":
        # the Dense bias is followed by a training-mode BatchNorm1d, which subtracts it again: its gradient is
        # zero up to rounding (an upstream redundancy, kept for checkpoint compatibility)
        assert grads.pop("last_linear.bias") < 1e-5
    assert [name for name, g in grads.items() if g == 0] == []


def test_parameter_names_mirror_timm():
    net = iv4.InceptionV4(num_classes=1000, head="reference")
    expected = {"features.0.conv.weight", "features.0.bn.gamma", "features.0.bn.moving_variance",
                "features.2.conv.weight", "features.3.conv.conv.weight", "features.4.branch0.1.conv.weight",
                "features.4.branch1.3.bn.beta", "features.5.conv.conv.weight", "features.6.branch3.1.conv.weight",
                "features.9.branch2.2.bn.moving_mean", "features.10.branch1.2.conv.weight",
                "features.17.branch2.4.conv.weight", "features.18.branch1.3.conv.weight",
                "features.21.branch1_1a.conv.weight", "features.21.branch2_3b.bn.gamma", "last_linear.weight",
                "last_linear.bias"}
    names = parameter_names(net, expected, heads=("features.", "last_linear."))
    upstream = {name for name, _ in iv4.InceptionV4(head="upstream").parameters_and_names()}
    assert upstream - names == {f"{bn}.{k}" for bn in ("head_bn", "logits_bn")
                                for k in ("gamma", "beta", "moving_mean", "moving_variance")}


def test_onnx_safe_construction():
    net = iv4.InceptionV4(num_classes=10, head="upstream")
    convs = [c for _, c in net.cells_and_names() if isinstance(c, nn.Conv2d)]
    asym = [c for c in convs if c.kernel_size[0] != c.kernel_size[1]]
    assert len(asym) == 2 + 7 * 6 + 2 + 3 * 6  # Mixed4a, InceptionB x7, ReductionB, InceptionC x3
    assert all(c.pad_mode == "same" for c in asym)
    for conv in (c for c in convs if c.kernel_size[0] == c.kernel_size[1]):  # valid or symmetric int padding
        assert conv.pad_mode in ("valid", "pad") and isinstance(conv.padding, int)
    pools = [c for _, c in net.cells_and_names() if isinstance(c, nn.AvgPool2d)]
    assert len(pools) == 4 + 7 + 3
    assert all(p.pad_mode == "SAME" and p.kernel_size == 3 and p.stride == 1 for p in pools)
    assert not any(isinstance(c, nn.AdaptiveAvgPool2d) for _, c in net.cells_and_names())
    heads = iv4.InceptionV4(head="reference")
    assert heads.head_drop.p == 0.2 and net.head_drop.p == 0.8
    assert isinstance(iv4.InceptionV4(head="reference", dropout=0).head_drop, nn.Identity)
    assert net.head_bn.eps == 0.001 and net.features[0].bn.eps == 1e-5  # upstream Conv2dBnAct's eps
    timm_like = iv4.InceptionV4(num_classes=10, head="reference", bn_eps=1e-3, bn_momentum=0.9)
    assert all(c.eps == 1e-3 for _, c in timm_like.cells_and_names() if isinstance(c, nn.BatchNorm2d))


def test_same_padding_equals_symmetric_torch_padding():
    """A 'same' 1x7 conv equals the (0, 3) padding of timm/torch; the avg pool excludes padding from the count."""
    rng = np.random.default_rng(2)
    x = ms.Tensor(rng.standard_normal((1, 4, 6, 9)).astype(np.float32))
    same = iv4.BasicConv(4, 5, (1, 7)).conv
    explicit = nn.Conv2d(4, 5, (1, 7), pad_mode="pad", padding=(0, 0, 3, 3), has_bias=False)
    explicit.weight.set_data(same.weight.data)
    np.testing.assert_allclose(same(x).asnumpy(), explicit(x).asnumpy(), atol=1e-5)
    ones = ms.Tensor(np.ones((1, 1, 4, 4), np.float32))
    np.testing.assert_allclose(iv4.InceptionA().branch3[0](ones).asnumpy(), 1.0)  # padding not counted
    with pytest.raises(ValueError):
        iv4.InceptionV4(head="bogus")


def test_init_upstream():
    net = initialize(iv4.InceptionV4(num_classes=1000, head="upstream"))
    conv = net.features[6].branch0.conv.weight.asnumpy()  # 384 -> 96, 1x1
    bound = np.sqrt(6.0 / (384 + 96))
    assert np.abs(conv).max() <= bound + 1e-7 and conv.std() > 0.5 * bound / np.sqrt(3)
    dense = net.last_linear.weight.asnumpy()
    assert np.abs(dense).max() <= np.sqrt(6.0 / (1536 + 1000)) + 1e-7
    assert not np.any(net.last_linear.bias.asnumpy())
    assert np.all(net.features[0].bn.gamma.asnumpy() == 1) and np.all(net.head_bn.moving_variance.asnumpy() == 1)


@pytest.mark.slow
@pytest.mark.parametrize("head", iv4.HEADS)
def test_onnx_export_matches_onnxruntime(head, tmp_path):
    import onnxruntime as ort
    net = _randomize_bn(iv4.InceptionV4(num_classes=10, head=head), seed=5)  # fresh instance per export
    net.set_train(False)
    x = _input(batch=2, seed=6)
    expected = net(x).asnumpy()
    path = str(tmp_path / f"inceptionv4_{head}.onnx")
    ms.onnx.export(net, x, file_name=path, input_names=["x"], output_names=["out"])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.asnumpy()})[0]
    assert got.shape == expected.shape == (2, 10)
    assert np.abs(got - expected).max() < 1e-4
