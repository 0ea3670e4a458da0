"""The fast CPU convolution (oneDNN blocked-layout kernels as AOT Custom operators behind ``nn.Conv2d``).

It must compute what MindSpore's own Conv2D computes, forward and backward, on every convolution the three networks
run; fall back to the native operator with one line when it cannot be built; build once per machine; export the
native operator; and train to the same loss curve.
"""
import json

import numpy as np
import pytest

from conftest import ROOT, finish, run_script, start_script, zoo_env

RELATIVE = 1e-5  # max |fast - native| <= RELATIVE * max |native|, per output and per gradient
NETWORKS = {  # the recipes' smallest valid inputs keep every configuration and make the test quick
    "vgg19": ({"image_size": (32, 32)}, (32, 32)),
    "densenet121": ({}, (32, 32)),
    "inception_v4": ({"head": "reference"}, (75, 75)),
}
# what nn.Conv2d allows and the three networks do not use: groups, dilation, asymmetric padding, bias, batch 1
EXTRA = [
    (dict(in_channels=8, out_channels=12, kernel_size=3, stride=1, pad_mode="pad", padding=(0, 2, 1, 0), group=4),
     (1, 8, 9, 11)),
    (dict(in_channels=6, out_channels=6, kernel_size=(3, 5), stride=(2, 1), pad_mode="same", dilation=(2, 1),
          has_bias=True), (3, 6, 13, 10)),
    (dict(in_channels=16, out_channels=32, kernel_size=3, stride=2, pad_mode="valid", dilation=2, group=2),
     (2, 16, 15, 17)),
    (dict(in_channels=3, out_channels=5, kernel_size=7, stride=3, pad_mode="pad", padding=3, has_bias=True),
     (1, 3, 23, 19)),
]


@pytest.fixture(scope="module")
def fast():
    import mindspore as ms

    from model_zoo.engine.device import get_backend
    from model_zoo.engine.kernels import fastconv

    previous = ms.get_context("mode")
    get_backend("CPU").setup_context("PYNATIVE", 0)  # as a run does (earlier tests may have started the runtime)
    status = fastconv.enable()
    assert status.startswith("fast convolution on"), status
    yield fastconv
    ms.set_context(mode=previous)


def conv_settings(cell):
    return dict(in_channels=cell.in_channels, out_channels=cell.out_channels, kernel_size=cell.kernel_size,
                stride=cell.stride, pad_mode=cell.pad_mode, padding=cell.padding, dilation=cell.dilation,
                group=cell.group, has_bias=cell.has_bias)


def network_configurations(name):
    """Each distinct (settings, input shape) of the network's convolutions, batch 1 and 2 alternating."""
    from model_zoo.engine.flops import conv_calls
    from model_zoo.engine.registry import create_model

    kwargs, size = NETWORKS[name]
    seen = {}
    for cell, shape in conv_calls(create_model(name, num_classes=10, **kwargs), size):
        settings = conv_settings(cell)
        seen.setdefault(json.dumps([settings, shape[1:]]), (settings, shape[1:]))
    return [(settings, (1 + i % 2,) + shape) for i, (settings, shape) in enumerate(seen.values())]


def outputs_and_gradients(cell, x, dy):
    import mindspore as ms

    params = cell.trainable_params()
    grad_fn = ms.grad(lambda inp: (cell(inp) * dy).sum(), grad_position=0, weights=params)
    dx, dparams = grad_fn(x)
    return [cell(x).asnumpy(), dx.asnumpy()] + [g.asnumpy() for g in dparams]


def mismatches(settings, shape, seed):
    """Relative error of output, dx, dw (and db) of the fast operator against MindSpore's, when above RELATIVE."""
    import mindspore as ms
    from mindspore import nn

    rng = np.random.default_rng(seed)
    fast_cell, native_cell = nn.Conv2d(**settings), nn.Conv2d(**settings)
    assert fast_cell._zoo_fast, "nn.Conv2d built after enable() must use the fast operator"
    native_cell._zoo_fast = False
    for a, b in zip(fast_cell.trainable_params(), native_cell.trainable_params()):
        value = rng.standard_normal(a.shape).astype(np.float32) * 0.1
        a.set_data(ms.Tensor(value))
        b.set_data(ms.Tensor(value))
    x = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
    dy = ms.Tensor(rng.standard_normal(native_cell(x).shape).astype(np.float32))
    got, want = outputs_and_gradients(fast_cell, x, dy), outputs_and_gradients(native_cell, x, dy)
    errors = [float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-30)) for g, w in zip(got, want)]
    shapes_ok = all(g.shape == w.shape for g, w in zip(got, want))
    if shapes_ok and max(errors) <= RELATIVE:
        return None
    return f"{settings} input {shape}: relative errors y/dx/dw(/db) {['%.1e' % e for e in errors]}"


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_matches_native_conv2d_on_every_network_configuration(fast, name):
    configurations = network_configurations(name)
    assert len(configurations) >= {"vgg19": 8, "densenet121": 50, "inception_v4": 30}[name]
    bad = [m for i, (settings, shape) in enumerate(configurations) if (m := mismatches(settings, shape, i))]
    assert not bad, "\n".join(bad)


def test_matches_native_conv2d_on_groups_dilation_asymmetric_padding(fast):
    bad = [m for i, (settings, shape) in enumerate(EXTRA) if (m := mismatches(settings, shape, 100 + i))]
    assert not bad, "\n".join(bad)
    info, implementations = fast.info()
    assert info.startswith("oneDNN 3."), info
    assert implementations and not any(impl.startswith("ref") for impl in implementations), implementations


def test_convolutions_of_one_input_shape_with_other_strides_keep_their_own_output(fast):
    """PyNative caches an operator's inferred output by name, attributes and input shapes: a stride-2 convolution
    run after a stride-1 one of the same input (InceptionV4's Mixed3a after InceptionA) must not get its shape."""
    import mindspore as ms
    from mindspore import nn

    x = ms.Tensor(np.random.default_rng(3).standard_normal((1, 64, 35, 35)).astype(np.float32))
    cells = [nn.Conv2d(64, 96, 3, pad_mode="pad", padding=1), nn.Conv2d(64, 96, 3, stride=2, pad_mode="valid")]
    for cell in cells * 2:
        native = nn.Conv2d(64, 96, 3, stride=cell.stride, pad_mode=cell.pad_mode, padding=cell.padding)
        native._zoo_fast = False
        native.weight.set_data(cell.weight.data)
        got, want = cell(x).asnumpy(), native(x).asnumpy()
        assert got.shape == want.shape == ((1, 96, 35, 35) if cell.stride == (1, 1) else (1, 96, 17, 17))
        assert np.abs(got - want).max() <= RELATIVE * np.abs(want).max()


def test_an_input_too_small_for_the_convolution_is_an_error_not_a_crash(fast):
    """As MindSpore's Conv2D: a ValueError naming the sizes (an empty output crashed the PyNative process)."""
    import mindspore as ms
    from mindspore import nn

    cell = nn.Conv2d(4, 4, 3, stride=2, pad_mode="valid")
    assert cell._zoo_fast
    with pytest.raises(ValueError, match=r"input 2x2 is too small for kernel 3x3 with stride 2x2"):
        cell(ms.Tensor(np.zeros((1, 4, 2, 2), np.float32)))


def test_a_graph_for_every_input_size_runs(fast):
    """set_inputs with unknown sizes (VGG's dense evaluation): the cells run MindSpore's operators there, with the
    same numbers as a native network, on two input sizes of one graph."""
    import mindspore as ms
    from mindspore import nn

    def build(fast_path):
        net = nn.SequentialCell([nn.Conv2d(3, 8, 3, pad_mode="pad", padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Conv2d(8, 4, 1)])
        for cell in (net[0], net[1], net[3]):
            cell._zoo_fast = fast_path and cell._zoo_fast
        net.set_train(False)
        net.set_inputs(ms.Tensor(shape=[None, 3, None, None], dtype=ms.float32))
        return net

    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        fast_net, native_net = build(True), build(False)
        assert fast_net[0]._zoo_fast and fast_net[1]._zoo_fast
        ms.load_param_into_net(native_net, {p.name: p for p in fast_net.get_parameters()})
        rng = np.random.default_rng(7)
        for shape in ((1, 3, 17, 23), (2, 3, 9, 9)):
            x = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
            got, want = fast_net(x).asnumpy(), native_net(x).asnumpy()
            assert got.shape == want.shape == (shape[0], 4) + shape[2:]
            assert np.abs(got - want).max() <= RELATIVE * np.abs(want).max()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


def test_export_writes_the_native_operator(fast, tmp_path):
    import mindspore as ms
    from mindspore import nn

    from model_zoo.engine.device import get_backend
    from model_zoo.engine.exporter import export_network

    def build():
        return nn.SequentialCell([nn.Conv2d(3, 8, 3, has_bias=True), nn.ReLU(), nn.Conv2d(8, 4, 1)])

    assert build()[0]._zoo_fast
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        for fmt in ("MINDIR", "ONNX"):
            result = export_network(build, None, tmp_path / "net", fmt, (2, 3, 12, 12), get_backend("CPU"))
            assert result["max_abs_diff"] <= 1e-5 * result["output_scale"]
            data = open(result["file"], "rb").read()
            assert b"ZooConv" not in data and b"Conv" in data, fmt
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.mark.slow
def test_falls_back_to_native_with_one_line_when_no_compiler(tiny_folder, tmp_path):
    """No C++ compiler and nothing cached: one line says why and how to enable it; training still runs."""
    env = {"MODEL_ZOO_CACHE_DIR": str(tmp_path / "cache"), "CXX": "zoo-no-such-compiler"}
    proc = run_script(ROOT / "model_zoo/densenet121/train.py", "--config_path=densenet121_config.yaml",
                      "--net=densenet121", f"--train_data_dir={tiny_folder / 'train'}", "--num_classes=3",
                      "--image_size=32,32", "--per_batch_size=8", "--max_epoch=1", "--device_target=CPU",
                      f"--ckpt_path={tmp_path / 'out'}", cwd=ROOT / "model_zoo/densenet121", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("fast convolution")]
    assert lines == ["fast convolution off: no C++ compiler (zoo-no-such-compiler) was found to build it; "
                     "MindSpore's Conv2D runs instead. To enable it: install one (Debian/Ubuntu: apt-get install "
                     "g++) and run again; MODEL_ZOO_FAST_CONV=0 silences this line"], lines
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cache" / "kernels").exists() or not any((tmp_path / "cache" / "kernels").glob("*/*.so"))


BN_SHAPES = [(2, 8, 5, 7), (8, 32, 28, 28), (32, 224, 3, 3), (3, 64, 17, 17), (2, 1536, 1, 1)]


def test_batch_norm_matches_native(fast):
    """Training step (output, dx, dgamma, dbeta, moving statistics) and inference of nn.BatchNorm2d, fast vs
    MindSpore's kernel, on batch-norm shapes of the networks (M = N * H * W > 1: with one value per channel
    MindSpore's own moving variance divides by zero)."""
    import mindspore as ms
    from mindspore import nn

    bad = []
    for index, shape in enumerate(BN_SHAPES):
        rng = np.random.default_rng(200 + index)
        cells = [nn.BatchNorm2d(shape[1], eps=1e-3, momentum=0.9) for _ in range(2)]
        assert cells[0]._zoo_fast
        cells[1]._zoo_fast = False
        gamma, beta = (rng.standard_normal(shape[1]).astype(np.float32) for _ in range(2))
        x = ms.Tensor((rng.standard_normal(shape) * 3 + 1).astype(np.float32))
        dy = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
        results = []
        for cell in cells:
            cell.gamma.set_data(ms.Tensor(gamma))
            cell.beta.set_data(ms.Tensor(beta))
            cell.set_train(True)
            dx, (dgamma, dbeta) = ms.grad(lambda inp, c=cell: (c(inp) * dy).sum(), grad_position=0,
                                          weights=cell.trainable_params())(x)
            y = cell(x)  # a second training step: moving statistics updated twice
            cell.set_train(False)
            results.append([t.asnumpy() for t in (y, dx, dgamma, dbeta, cell.moving_mean, cell.moving_variance,
                                                  cell(x))])
        errors = [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(*results)]
        if max(errors) > RELATIVE:
            bad.append(f"{shape}: relative errors y/dx/dgamma/dbeta/moving mean/moving var/eval y "
                       f"{['%.1e' % e for e in errors]}")
    assert not bad, "\n".join(bad)


def spatial_configurations():
    """Each distinct pooling / padding cell setting of the three networks with its input shape (batch 2), and
    settings they do not use: stride 1 'same' max pools, non-square windows, odd and tiny maps, asymmetric pads."""
    from mindspore import nn

    from model_zoo.engine.flops import forward_with_hooks
    from model_zoo.engine.registry import create_model

    def settings(cell):
        if isinstance(cell, nn.Pad):
            return ("Pad", cell.paddings)
        return (type(cell).__name__, cell.kernel_size, cell.stride, cell.pad_mode)

    seen = {}
    for name, (kwargs, size) in NETWORKS.items():
        for variant in ({}, {"transition_pool": "avg", "stem_pool": "symmetric"}) if name == "densenet121" else ({},):
            found = []
            hook = lambda cell, inputs, output: found.append((cell, tuple(inputs[0].shape)))  # noqa: E731
            net = create_model(name, num_classes=10, **kwargs, **variant)
            forward_with_hooks(net, size, {nn.MaxPool2d: hook, nn.AvgPool2d: hook, nn.Pad: hook})
            for cell, shape in found:
                seen.setdefault((settings(cell), shape[1:]), (settings(cell), (2,) + shape[1:]))
    extra = [(("MaxPool2d", 3, 1, "same"), (1, 3, 9, 11)), (("AvgPool2d", (2, 3), (1, 2), "same"), (2, 2, 8, 7)),
             (("AvgPool2d", 3, 2, "same"), (1, 4, 4, 4)), (("MaxPool2d", 3, 3, "valid"), (2, 2, 3, 3)),
             (("Pad", ((0, 0), (0, 0), (0, 2), (3, 1))), (2, 3, 5, 4))]
    return list(seen.values()) + extra


def make_spatial(setting):
    from mindspore import nn

    if setting[0] == "Pad":
        return nn.Pad(setting[1])
    kind, kernel, stride, mode = setting
    return getattr(nn, kind)(kernel, stride, pad_mode=mode)


def test_pooling_and_padding_match_native(fast):
    """Every max / average pool and zero pad of the three networks (and settings they do not use), output and input
    gradient, fast vs MindSpore's kernels."""
    import mindspore as ms

    configurations = spatial_configurations()
    kinds = {setting[0] for setting, _ in configurations}
    assert kinds == {"MaxPool2d", "AvgPool2d", "Pad"}, kinds
    assert len(configurations) >= 12
    bad = []
    for index, (setting, shape) in enumerate(configurations):
        rng = np.random.default_rng(300 + index)
        cell = make_spatial(setting)
        assert cell._zoo_fast, setting
        x = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
        dy = ms.Tensor(rng.standard_normal(cell(x).shape).astype(np.float32))
        got = outputs_and_gradients(cell, x, dy)
        with fast.native(cell):
            want = outputs_and_gradients(cell, x, dy)
        errors = [float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-30)) for g, w in zip(got, want)]
        if any(g.shape != w.shape for g, w in zip(got, want)) or max(errors) > RELATIVE:
            bad.append(f"{setting} input {shape}: relative errors y/dx {['%.1e' % e for e in errors]}")
    assert not bad, "\n".join(bad)


def test_max_pool_gradient_on_ties_goes_where_mindspores_goes(fast):
    """Windows holding their maximum more than once (ReLU zeros, repeated values) send the gradient to the same
    element as MindSpore's kernel (the first in row-major order): exactly the same input gradient."""
    import mindspore as ms
    from mindspore import nn

    rng = np.random.default_rng(7)
    for args in ((3, 2), (2, 2), (3, 2, "same"), (3, 1, "same")):
        cell = nn.MaxPool2d(*args)
        x = ms.Tensor(rng.integers(0, 3, (2, 3, 13, 12)).astype(np.float32))
        dy = ms.Tensor(rng.standard_normal(cell(x).shape).astype(np.float32))
        got = outputs_and_gradients(cell, x, dy)
        with fast.native(cell):
            want = outputs_and_gradients(cell, x, dy)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=str(args))


def test_pad_modes_and_pools_the_kernels_do_not_cover_run_mindspores_operator(fast):
    from mindspore import nn

    assert nn.Pad(((0, 0), (0, 0), (1, 1), (1, 1)))._zoo_fast
    assert not nn.Pad(((0, 0), (0, 0), (1, 1), (1, 1)), mode="REFLECT")._zoo_fast
    assert not nn.Pad(((1, 1), (2, 2)))._zoo_fast  # not the spatial axes of an NCHW tensor
    assert not nn.Pad(((0, 0), (1, 0), (1, 1), (1, 1)))._zoo_fast  # pads channels
    assert not nn.MaxPool2d(3, 2, pad_mode="pad", padding=1)._zoo_fast
    assert not nn.AvgPool2d(3, 1, pad_mode="pad", padding=1, count_include_pad=False)._zoo_fast


def test_a_pool_too_small_for_its_input_is_an_error_not_a_crash(fast):
    import mindspore as ms
    from mindspore import nn

    with pytest.raises(ValueError, match=r"MaxPool2d: input 2x2 is too small for kernel 3x3"):
        nn.MaxPool2d(3, 2)(ms.Tensor(np.ones((1, 1, 2, 2), np.float32)))


class BnThenRelu:
    """Cells for the fusion tests (built inside the tests: the fast path must be on first)."""

    @staticmethod
    def pair(channels):
        from mindspore import nn

        class Pair(nn.Cell):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.9)
                self.relu = nn.ReLU()

            def construct(self, x):
                return self.relu(self.bn(x))
        return Pair()

    @staticmethod
    def reused(channels):
        from mindspore import nn

        class Reused(nn.Cell):  # the batch norm's output also feeds the sum: not fusable
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(channels)
                self.relu = nn.ReLU()

            def construct(self, x):
                y = self.bn(x)
                return self.relu(y) + y
        return Reused()

    @staticmethod
    def twice(channels):
        from mindspore import nn

        class Twice(nn.Cell):  # one ReLU cell at two places: not fusable
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(channels)
                self.relu = nn.ReLU()

            def construct(self, x):
                return self.relu(self.bn(x)) + self.relu(x)
        return Twice()


def test_batch_norm_with_its_relu_fused_matches_native(fast):
    """A batch norm whose output only feeds a ReLU applies it in its own kernels: training output, dx, dgamma,
    dbeta, moving statistics, inference output and the inference gradient (a frozen batch norm) match MindSpore's
    BatchNorm followed by ReLU."""
    import mindspore as ms

    bad = []
    for index, shape in enumerate(BN_SHAPES):
        rng = np.random.default_rng(400 + index)
        cells = [BnThenRelu.pair(shape[1]) for _ in range(2)]
        assert fast.fuse(cells[0]) == 1 and cells[0].bn._zoo_relu and cells[0].relu._zoo_skip
        gamma, beta = (rng.standard_normal(shape[1]).astype(np.float32) for _ in range(2))
        x = ms.Tensor((rng.standard_normal(shape) * 3 + 1).astype(np.float32))
        dy = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
        results = []
        for cell, context in zip(cells, (fast.native(), fast.native(cells[1]))):
            with context:
                cell.bn.gamma.set_data(ms.Tensor(gamma))
                cell.bn.beta.set_data(ms.Tensor(beta))
                cell.set_train(True)
                grad = ms.grad(lambda inp, c=cell: (c(inp) * dy).sum(), grad_position=0,
                               weights=cell.trainable_params())
                dx, (dgamma, dbeta) = grad(x)
                y = cell(x)
                cell.set_train(False)
                eval_dx, (eval_dgamma, eval_dbeta) = grad(x)
                results.append([t.asnumpy() for t in (y, dx, dgamma, dbeta, cell.bn.moving_mean,
                                                      cell.bn.moving_variance, cell(x), eval_dx, eval_dgamma,
                                                      eval_dbeta)])
        assert (results[0][0] >= 0).all() and (results[0][6] >= 0).all()
        errors = [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(*results)]
        if max(errors) > RELATIVE:
            bad.append(f"{shape}: relative errors y/dx/dgamma/dbeta/moving mean/moving var/eval y/eval dx/"
                       f"eval dgamma/eval dbeta {['%.1e' % e for e in errors]}")
    assert not bad, "\n".join(bad)


def test_graph_mode_training_updates_the_moving_statistics_as_mindspore(fast):
    """Compiled training steps (conv, batch norm + ReLU, pool, dense): the same losses, moving statistics (updated in
    place by the kernel, as MindSpore's BatchNorm does) and evaluation output as MindSpore's kernels."""
    import contextlib

    import mindspore as ms
    from mindspore import nn

    from model_zoo.engine.registry import finish_network

    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    batches = [(ms.Tensor(rng.standard_normal((4, 3, 16, 16)).astype(np.float32)),
                ms.Tensor(rng.integers(0, 4, 4).astype(np.int32))) for _ in range(3)]
    results = []
    for use_fast in (True, False):
        ms.set_seed(0)
        net = finish_network(nn.SequentialCell([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8, momentum=0.9), nn.ReLU(),
                                                nn.MaxPool2d(2, 2), nn.Flatten(), nn.Dense(8 * 8 * 8, 4)]))
        assert net[1]._zoo_fast and net[1]._zoo_relu and net[2]._zoo_skip
        loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
        step = nn.TrainOneStepCell(loss, nn.Momentum(net.trainable_params(), 0.1, 0.9))
        step.set_train(True)
        with contextlib.nullcontext() if use_fast else fast.native(net):
            losses = [float(step(x, y).asnumpy()) for x, y in batches]
            net.set_train(False)
            output = net(batches[0][0]).asnumpy()
        results.append([np.array(losses), net[1].moving_mean.asnumpy(), net[1].moving_variance.asnumpy(), output])
    assert np.abs(results[0][1]).max() > 0 and np.abs(results[0][2] - 1).max() > 0  # the statistics moved
    errors = [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(*results)]
    assert max(errors) <= RELATIVE, errors


def test_prepare_attaches_and_fuses_cells_that_missed_the_fast_path(fast):
    """Cells without the fast operators (as if built before enable()) get them from prepare(), and are fused."""
    from mindspore import nn

    net = nn.SequentialCell([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2, 2)])
    for cell in net.cell_list:
        cell._zoo_fast = False
    assert fast.prepare(net) == 3
    assert all(cell._zoo_fast for cell in (net[0], net[1], net[3])) and net[1]._zoo_relu and net[2]._zoo_skip


def test_fusion_takes_only_what_the_structure_proves(fast):
    """Each batch norm of the three networks feeds only its ReLU, and the engine's network builder fuses them all;
    a batch norm whose output is used twice, or a ReLU cell used at two places, is left alone."""
    from mindspore import nn

    from model_zoo.engine.registry import create_model

    for name, (kwargs, _) in NETWORKS.items():
        arch = {"vgg19": "vgg19_bn"}.get(name, name)
        net = create_model(arch, num_classes=10, **kwargs)
        norms = [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
        assert norms and all(cell._zoo_relu for cell in norms), (arch, sum(c._zoo_relu for c in norms), len(norms))
        assert fast.fuse(net) == 0  # already fused: nothing more
    for build in (BnThenRelu.reused, BnThenRelu.twice):
        cell = build(4)
        assert fast.fuse(cell) == 0 and not cell.bn._zoo_relu and not cell.relu._zoo_skip
    shared = nn.ReLU()
    chain = nn.SequentialCell([nn.SequentialCell([nn.BatchNorm2d(4), shared]), nn.SequentialCell([shared])])
    assert fast.fuse(chain) == 0


@pytest.mark.slow
def test_builds_once_per_machine(tmp_path):
    """The first process builds into the cache (keyed by sources, MindSpore, its oneDNN, CPU), later ones load it."""
    code = ("import model_zoo, mindspore as ms; from model_zoo.engine.kernels import fastconv; "
            "ms.set_device('CPU'); print(fastconv.enable())")
    env = zoo_env(MODEL_ZOO_CACHE_DIR=tmp_path)
    import subprocess
    import sys

    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
            for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "fast convolution on" in proc.stdout
    assert "building the oneDNN kernel once" in runs[0].stdout + runs[0].stderr
    assert "building" not in runs[1].stdout + runs[1].stderr
    builds = list((tmp_path / "kernels").glob("*/zoo_fastconv.so"))
    assert len(builds) == 1
    key = json.loads((builds[0].parent / "key.json").read_text())
    assert key["mindspore"] and key["cpu"] is not None and key["dnnl_size"] > 0


def test_a_new_build_leaves_the_builds_other_checkouts_still_use(tmp_path):
    """Two checkouts (or a zoo upgrade while a job runs) share one MindSpore and one cache: a build removes only
    builds of that MindSpore no run has loaded for UNUSED_DAYS; a running job loads its kernels again by path."""
    import os
    import time

    from model_zoo.engine.kernels import fastconv

    def folder(name, dnnl, idle_days):
        path = tmp_path / name
        path.mkdir()
        (path / "key.json").write_text(json.dumps({"dnnl": dnnl}))
        stamp = time.time() - idle_days * 86400
        os.utime(path / "key.json", (stamp, stamp))
        return path

    keep = folder("new", "/ms/libdnnl.so.3", 0)
    in_use = folder("other_checkout", "/ms/libdnnl.so.3", 1)
    stale = folder("old", "/ms/libdnnl.so.3", fastconv.UNUSED_DAYS + 1)
    other_install = folder("other_mindspore", "/other/libdnnl.so.3", fastconv.UNUSED_DAYS + 1)
    fastconv._remove_older_builds(tmp_path, keep, {"dnnl": "/ms/libdnnl.so.3"})
    assert keep.is_dir() and in_use.is_dir() and other_install.is_dir() and not stale.exists()


@pytest.mark.slow
def test_training_gives_the_same_loss_curve(tiny_folder, tmp_path):
    """VGG11-BN (convolutions and batch norms), 10 steps of GRAPH-mode training from the CLI, fast vs MindSpore's
    kernels: the same losses within 1e-4 (one step per epoch: metrics.csv keeps each with 6 decimals).

    VGG, not DenseNet121: at these tiny inputs DenseNet121's last batch norms average over a handful of values,
    and MindSpore's own kernels with one weight changed by 1e-6 (relative) already move its gradients by 1%."""
    curves, runs = {}, {}
    for switch in ("1", "0"):                                                        # both at once
        runs[switch] = start_script(
            ROOT / "model_zoo/vgg19/train.py", "--config_path=imagenet2012_config.yaml", "--arch=vgg11_bn",
            f"--data_dir={tiny_folder}", "--dataset=imagenet2012", "--num_classes=3", "--image_size=32,32",
            "--batch_size=24", "--max_epoch=10", "--device_target=CPU", "--lr=0.02", "--has_dropout=False",
            "--label_smooth=0", "--loss_scale=1.0", f"--ckpt_path={tmp_path / f'fast{switch}'}",
            cwd=ROOT / "model_zoo/vgg19", env={"MODEL_ZOO_FAST_CONV": switch})
    for switch, run in runs.items():
        proc = finish(run)
        assert proc.returncode == 0, proc.stderr[-2000:]
        (metrics,) = (tmp_path / f"fast{switch}").rglob("metrics.csv")
        rows = metrics.read_text().splitlines()[1:]
        curves[switch] = [float(row.split(",")[2]) for row in rows]
    assert len(curves["1"]) == 10 and len(curves["0"]) == 10
    assert curves["1"][-1] < curves["1"][0]  # it trains
    diffs = [abs(a - b) for a, b in zip(curves["1"], curves["0"])]
    assert max(diffs) <= 1e-4, (curves, diffs)
