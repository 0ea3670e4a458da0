"""Export to MINDIR / ONNX / AIR, then reload the file and prove it computes what the network computes.

MINDIR is reloaded with ``mindspore.load`` + ``nn.GraphCell``; ONNX runs through onnxruntime.  ONNX is exported
from a fresh network instance holding the same weights (MindSpore 2.10 fails on a second ONNX export of one
Cell instance).  AIR is only written where the device backend supports it (Ascend).
"""
from pathlib import Path

import numpy as np

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import DeviceError, ZooError


class ExportMismatch(ZooError):
    exit_code = 3


def _net_with_weights(build, params):
    net = build()
    if params is not None:
        ckpt_io.load_into(net, params)
    net.set_train(False)
    return net


def export_network(build, params, file_name, file_format, input_shape, backend, tolerance=1e-4,
                   dynamic_batch=False, verify=True, seed=0):
    """Export one network.  ``build()`` returns a fresh network; ``params`` its weights (dict) or None.

    Returns dict(file, format, max_abs_diff, output_scale).  Raises ExportMismatch when the reloaded file
    disagrees by more than ``tolerance * max(1, max |output|)``.
    """
    import mindspore as ms

    fmt = backend.check_export_format(file_format)
    suffix = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}[fmt]
    base = str(file_name)[: -len(suffix)] if str(file_name).lower().endswith(suffix) else str(file_name)
    target = Path(base + suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sample = rng.standard_normal(input_shape).astype(np.float32)
    net = _net_with_weights(build, params)
    if params is None:  # later instances (ONNX export) must carry these very weights
        params = {p.name: ms.Parameter(ms.Tensor(p.asnumpy()), name=p.name) for p in net.get_parameters()}
    expected = net(ms.Tensor(sample)).asnumpy()
    trace_shape = [None] + list(input_shape[1:]) if dynamic_batch else list(input_shape)
    trace = ms.Tensor(shape=trace_shape, dtype=ms.float32) if dynamic_batch else ms.Tensor(sample)
    if fmt == "ONNX":
        import mindspore.onnx

        fresh = _net_with_weights(build, params)
        kwargs = dict(input_names=["x"], output_names=["logits"])
        if dynamic_batch:
            kwargs["dynamic_axes"] = {"x": {0: "batch"}, "logits": {0: "batch"}}
        mindspore.onnx.export(fresh, ms.Tensor(sample), file_name=str(target), **kwargs)
    else:
        try:
            ms.export(net, trace, file_name=base, file_format=fmt)
        except ValueError as exc:
            raise DeviceError(f"export to {fmt} failed: {str(exc).splitlines()[0]}") from None
    result = {"file": str(target), "format": fmt, "max_abs_diff": None}
    if verify and fmt != "AIR":
        got = run_exported(target, sample)
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        scale = max(1.0, float(np.max(np.abs(expected))))
        result.update(max_abs_diff=diff, output_scale=scale)
        # float32 rounding grows with the size of the outputs: the bound is tolerance x max(1, |output|)
        if not diff <= tolerance * scale:
            raise ExportMismatch(f"{target} disagrees with the network: max abs diff {diff:.3g} > tolerance "
                                 f"{tolerance:g} x output scale {scale:.3g}; the export is wrong, do not deploy it")
    return result


def run_exported(path, batch):
    """Run an exported MINDIR or ONNX file on a numpy batch."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"model file {path} not found; export it first")
    if path.suffix.lower() == ".onnx":
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ZooError(f"{path} is not a valid ONNX model ({str(exc).splitlines()[0][:120]})") from None
        return session.run(None, {session.get_inputs()[0].name: batch})[0]
    import mindspore as ms
    from mindspore import nn

    try:
        graph = nn.GraphCell(ms.load(str(path)))
    except (RuntimeError, ValueError) as exc:
        raise ZooError(f"{path} is not a valid MINDIR model ({str(exc).splitlines()[0][:120]})") from None
    return graph(ms.Tensor(batch)).asnumpy()
