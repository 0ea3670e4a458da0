"""Export to MINDIR / ONNX / AIR, then reload the file and prove it computes what the network computes.

MINDIR is reloaded with ``mindspore.load`` + ``nn.GraphCell``; ONNX runs through onnxruntime.  ONNX is exported
from a fresh network instance holding the same weights (MindSpore 2.10 fails on a second ONNX export of one
Cell instance).  AIR is only written where the device backend supports it (Ascend).

``fp16=True`` does what an upstream recipe's ``export.py`` does: ``network.add_flags_recursive(fp16=True)``
before the export, so the graph takes a float32 input, computes in float16 and outputs float16 (an Ascend 310
app then writes float16 result files: ``postprocess --result_dtype float16``).  The self-check then compares the
file with that float16 network, within :data:`FP16_TOLERANCE` (float16 keeps ~3 significant digits), and also
reports how far the float16 outputs are from the float32 network's.
"""
from pathlib import Path

import numpy as np

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import DeviceError, ZooError, first_line


# float16 export: the file may differ from the float16 network by this x max(1, max |output|) (the two run
# float16 kernels of different libraries, or round differently between layers)
FP16_TOLERANCE = 1e-2


class ExportMismatch(ZooError):
    exit_code = 3


def _net_with_weights(build, params, fp16=False):
    net = build()
    if params is not None:
        ckpt_io.load_into(net, params)
    net.set_train(False)
    if fp16:  # as an upstream export.py: every cell computes in float16
        net.add_flags_recursive(fp16=True)
    return net


def _forward(net, sample, fp16):
    """The network's outputs on ``sample`` as float32 numpy; a one-line DeviceError when the backend has no float16
    kernels for it."""
    import mindspore as ms

    try:
        return net(ms.Tensor(sample)).asnumpy().astype(np.float32)
    except (RuntimeError, TypeError, ValueError) as exc:
        if not fp16:
            raise
        raise DeviceError(f"--export_fp16: this backend cannot run the network in float16 ({first_line(exc)}); "
                          f"export float32 here (--export_fp16=False) or export float16 on GPU/Ascend") from None


def export_network(build, params, file_name, file_format, input_shape, backend, tolerance=1e-4,
                   dynamic_batch=False, verify=True, seed=0, fp16=False):
    """Export one network.  ``build()`` returns a fresh network; ``params`` its weights (dict) or None;
    ``fp16`` exports it computing in float16 (as an upstream recipe did).

    Returns dict(file, format, max_abs_diff, output_scale, fp16, tolerance, fp16_vs_fp32).  Raises ExportMismatch
    when the reloaded file disagrees with the (float16 when ``fp16``) network by more than
    ``tolerance * max(1, max |output|)``, the tolerance being at least :data:`FP16_TOLERANCE` for float16.
    """
    import mindspore as ms

    fmt = backend.check_export_format(file_format)
    suffix = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}[fmt]
    base = str(file_name)[: -len(suffix)] if str(file_name).lower().endswith(suffix) else str(file_name)
    target = Path(base + suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sample = rng.standard_normal(input_shape).astype(np.float32)
    net = _net_with_weights(build, params, fp16)
    if params is None:  # later instances (ONNX export) must carry these very weights
        params = {p.name: ms.Parameter(ms.Tensor(p.asnumpy()), name=p.name) for p in net.get_parameters()}
    reference32 = None
    if fp16:  # how far float16 moves the outputs, from a float32 instance (a compiled graph keeps its flags)
        tolerance = max(float(tolerance), FP16_TOLERANCE)
        if verify and fmt != "AIR":
            reference32 = _forward(_net_with_weights(build, params), sample, False)
    expected = _forward(net, sample, fp16)
    trace_shape = [None] + list(input_shape[1:]) if dynamic_batch else list(input_shape)
    trace = ms.Tensor(shape=trace_shape, dtype=ms.float32) if dynamic_batch else ms.Tensor(sample)
    if fmt == "ONNX":
        import mindspore.onnx

        fresh = _net_with_weights(build, params, fp16)
        kwargs = dict(input_names=["x"], output_names=["logits"])
        if dynamic_batch:
            kwargs["dynamic_axes"] = {"x": {0: "batch"}, "logits": {0: "batch"}}
        with backend.native_operators(fresh):
            mindspore.onnx.export(fresh, ms.Tensor(sample), file_name=str(target), **kwargs)
    else:
        try:
            with backend.native_operators(net):
                ms.export(net, trace, file_name=base, file_format=fmt)
        except ValueError as exc:
            raise DeviceError(f"export to {fmt} failed: {str(exc).splitlines()[0]}") from None
    result = {"file": str(target), "format": fmt, "max_abs_diff": None, "fp16": bool(fp16),
              "tolerance": float(tolerance), "fp16_vs_fp32": None}
    if verify and fmt != "AIR":
        try:
            got = run_exported(target, sample)
        except ZooError:
            raise
        except (RuntimeError, TypeError, ValueError) as exc:
            if not fp16:
                raise
            raise DeviceError(f"--export_fp16: {target} was written but cannot be run here to check it "
                              f"({first_line(exc)}); export float32 (--export_fp16=False) or check the file on "
                              f"GPU/Ascend") from None
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        scale = max(1.0, float(np.max(np.abs(expected))))
        result.update(max_abs_diff=diff, output_scale=scale, output_dtype=str(got.dtype))
        if reference32 is not None:
            result["fp16_vs_fp32"] = float(np.max(np.abs(expected.astype(np.float64) - reference32)))
        # float32 rounding grows with the size of the outputs: the bound is tolerance x max(1, |output|)
        if not diff <= tolerance * scale:
            what = "float16 network" if fp16 else "network"
            raise ExportMismatch(f"{target} disagrees with the {what}: max abs diff {diff:.3g} > tolerance "
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
