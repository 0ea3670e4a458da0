"""Fast CPU convolution: oneDNN's blocked-layout kernels behind ``nn.Conv2d``, as MindSpore AOT Custom operators.

MindSpore 2.10's CPU ``Conv2D`` gives oneDNN plain NCHW descriptors, so oneDNN can only run im2col + GEMM (the
zoo caps its ISA at AVX2 to stay off the reference kernel; see :mod:`model_zoo.engine.cpu_env`).  ``onednn_conv.cc``
asks oneDNN for the ``any`` format instead (as PyTorch does) and gets its direct JIT convolutions on blocked
layouts, reordering NCHW <-> blocked around them.  It runs a private copy of the oneDNN library MindSpore bundles
(``mindspore/lib/libdnnl.so.3``, renamed so both load side by side): MindSpore's own kernels keep their ISA cap
while this copy uses the whole ISA (AVX-512 where the CPU has it).

How it is wired in: :func:`enable` (called by the CPU device entry's ``setup_context``) builds the library once per
user, MindSpore version, library and CPU (``~/.cache/model_zoo/kernels/<key>/``, or ``$MODEL_ZOO_CACHE_DIR``), then
gives ``mindspore.nn.Conv2d`` a fast branch: every ``nn.Conv2d`` built afterwards (float32, NCHW) runs the Custom
operators, with a ``bprop`` made of the backward operator.  Parameters, their names and checkpoints do not change.
:func:`native` switches a network back to MindSpore's operator (export writes the native operator; MINDIR, ONNX
and AIR readers know nothing of the Custom one).  Without a C++ compiler or the library, :func:`enable` prints one
line saying why and how to get the fast path, and the native operator runs.  ``MODEL_ZOO_FAST_CONV=0`` turns it
off.

The same library carries the kernels around the convolutions where MindSpore's CPU ones are slow (the batch norm,
``nn.MaxPool2d`` / ``nn.AvgPool2d`` with pad_mode 'valid' or 'same', and the zero padding of ``nn.Pad``), wired
in the same way (``MODEL_ZOO_FAST_BN=0`` / ``MODEL_ZOO_FAST_POOL=0`` keep MindSpore's).  :func:`fuse`, run on each
network the engine builds, lets a batch norm whose output only feeds a ReLU apply it in its own kernels.
"""
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

from mindspore import ops

from model_zoo.engine.console import note

ENV_SWITCH = "MODEL_ZOO_FAST_CONV"
HERE = Path(__file__).resolve().parent
SOURCES = ("onednn_conv.cc", "batch_norm.cc", "pooling.cc", "pool.h", "dnnl_api.h")
LIB_NAME = "zoo_fastconv.so"
DNNL_COPY = "libzoodnnl.3"  # same length as the soname it replaces in the copy
DNNL_SONAME = b"libdnnl.so.3"
BUILD_VERSION = 1

_STATE = {"lib": None, "status": None, "patched": False, "ops": {}, "enabled": False}


class Unavailable(Exception):
    """The fast path cannot run here: ``reason`` and ``hint`` (how to get it)."""

    def __init__(self, reason, hint=""):
        super().__init__(reason)
        self.reason, self.hint = reason, hint


# ---------------------------------------------------------------------------------------------------------------
# build and cache
# ---------------------------------------------------------------------------------------------------------------

def mindspore_dir():
    """MindSpore's package folder, without importing it (None when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("mindspore")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def bundled_dnnl():
    folder = mindspore_dir()
    path = folder / "lib" / "libdnnl.so.3" if folder else None
    if path is None or not path.is_file():
        raise Unavailable("MindSpore's bundled oneDNN (mindspore/lib/libdnnl.so.3) was not found",
                          "reinstall mindspore==2.10.0 (pip install -e . does)")
    return path


def cache_root(environ=None):
    from model_zoo.engine.cpu_env import cache_file

    return Path(cache_file(environ)).parent / "kernels"


def build_key(dnnl_path):
    """What a build is valid for: our sources, MindSpore and its oneDNN file, this CPU, this platform."""
    from model_zoo.engine import cpu_env

    digest = hashlib.sha256(str(BUILD_VERSION).encode())
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    stat = dnnl_path.stat()
    sig = cpu_env.signature(cpu_env.cpu_flags(), cpu_env.cpu_model(), cpu_env.mindspore_version())
    meta = dict(sig, dnnl=str(dnnl_path), dnnl_size=stat.st_size, dnnl_mtime=stat.st_mtime_ns,
                machine=platform.machine(), python=sys.version_info[:2])
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return digest.hexdigest()[:16], meta


def compiler():
    name = os.environ.get("CXX") or "g++"
    path = shutil.which(name)
    if not path:
        raise Unavailable(f"no C++ compiler ({name}) was found to build it",
                          "install one (Debian/Ubuntu: apt-get install g++) and run again; "
                          f"{ENV_SWITCH}=0 silences this line")
    return path


def _copy_renamed(src, dst):
    """MindSpore's oneDNN under another soname, so that it loads beside MindSpore's own instance."""
    data = bytearray(Path(src).read_bytes())
    marker = b"\0" + DNNL_SONAME + b"\0"
    if data.count(marker) != 1:
        raise Unavailable(f"unexpected layout of {src} (soname not found once)", "report it; the native path runs")
    at = data.find(marker) + 1
    data[at:at + len(DNNL_SONAME)] = DNNL_COPY.encode()
    Path(dst).write_bytes(bytes(data))


def build(out_dir, dnnl_path, cxx, log=print):
    """Compile ``onednn_conv.cc`` against a renamed copy of MindSpore's oneDNN into ``out_dir``."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.time()
    _copy_renamed(dnnl_path, tmp / DNNL_COPY)
    # -march=native: the build is keyed by this CPU (model and ISA flags)
    cmd = [cxx, "-O3", "-march=native", "-fopenmp-simd", "-std=c++17", "-shared", "-fPIC", "-o",
           str(tmp / LIB_NAME)] + [str(HERE / name) for name in SOURCES if name.endswith(".cc")] + [f"-L{tmp}",
           f"-l:{DNNL_COPY}", "-Wl,-rpath,$ORIGIN", "-pthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        detail = (proc.stderr.strip().splitlines() or ["no output"])[0][:200]
        raise Unavailable(f"building it with {cxx} failed ({detail})",
                          f"fix the compiler set-up (CXX=...) or set {ENV_SWITCH}=0")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    (tmp / "build.json").write_text(json.dumps({"compiler": version, "seconds": round(time.time() - start, 1),
                                                "date": time.strftime("%Y-%m-%d %H:%M:%S")}))
    if out_dir.exists():
        shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir / LIB_NAME


def library(log=print):
    """Path of the built library for this machine, building it on first use.  Raises :class:`Unavailable`."""
    if _STATE["lib"]:
        return _STATE["lib"]
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Unavailable(f"it needs Linux on x86-64 (this is {platform.system()} {platform.machine()})")
    dnnl_path = bundled_dnnl()
    key, meta = build_key(dnnl_path)
    root = cache_root()
    allowed = os.environ.get("MS_CUSTOM_AOT_WHITE_LIST")
    if allowed is not None and os.path.commonpath([os.path.realpath(root), os.path.realpath(allowed)]) != \
            os.path.realpath(allowed):
        raise Unavailable(f"MS_CUSTOM_AOT_WHITE_LIST={allowed} does not contain the kernel cache {root}",
                          f"set MODEL_ZOO_CACHE_DIR to a folder inside {allowed}, or unset the variable")
    out_dir = root / key
    lib = out_dir / LIB_NAME
    if not lib.is_file():
        cxx = compiler()
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "w") as lock:  # one build at a time (e.g. the ranks of one msrun job)
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not lib.is_file():
                log(f"fast convolution: building the oneDNN kernel once for this machine in {out_dir} ...")
                build(out_dir, dnnl_path, cxx, log)
                (out_dir / "key.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
                _remove_older_builds(root, out_dir, meta)
    _mark_used(out_dir)
    _check_loads(lib)
    _STATE["lib"] = str(lib)
    return _STATE["lib"]


UNUSED_DAYS = 14  # a build for the same MindSpore that no run has loaded for this long is removed


def _mark_used(out_dir):
    try:
        os.utime(out_dir / "key.json")
    except OSError:
        pass


def _remove_older_builds(root, keep, meta):
    """Builds for the same MindSpore installation (other kernel sources: an older zoo, another checkout) that no run
    has loaded for :data:`UNUSED_DAYS`.  A build still in use is never removed: a running job loads its kernels by
    path when it compiles a graph (an evaluation after training, for one)."""
    now = time.time()
    for folder in root.iterdir():
        if folder == keep or not (folder / "key.json").is_file():
            continue
        try:
            other = json.loads((folder / "key.json").read_text())
            idle = now - (folder / "key.json").stat().st_mtime
        except (OSError, ValueError):
            continue
        if other.get("dnnl") == meta["dnnl"] and idle > UNUSED_DAYS * 86400:
            shutil.rmtree(folder, ignore_errors=True)


def _check_loads(lib):
    import ctypes

    try:
        handle = ctypes.CDLL(str(lib))
        handle.ZooConvInfo.restype = ctypes.c_char_p
        handle.ZooConvInfo()
    except (OSError, AttributeError) as exc:
        raise Unavailable(f"the built kernel does not load ({str(exc)[:160]})",
                          f"delete {lib.parent} to rebuild it, or set {ENV_SWITCH}=0") from None


def info():
    """(oneDNN version + ISA id, implementations picked so far) of the loaded library, or None."""
    import ctypes

    if not _STATE["lib"]:
        return None
    handle = ctypes.CDLL(_STATE["lib"])
    handle.ZooConvInfo.restype = ctypes.c_char_p
    handle.ZooConvImplementations.restype = ctypes.c_char_p
    impls = [line for line in handle.ZooConvImplementations().decode().splitlines() if line]
    return handle.ZooConvInfo().decode(), impls


# ---------------------------------------------------------------------------------------------------------------
# the operators
# ---------------------------------------------------------------------------------------------------------------

LAYOUTS = {"any": 0, "plain": 1}


def layout(cell):
    """How the activations reach oneDNN: 'any' (the blocked layout oneDNN prefers, reordered around the call; the
    default) or 'plain' (NCHW as they are: oneDNN's ncsp kernels, no reorders, but 1x1 convolutions on small
    feature maps run 5-10x slower there: benchmarks/RESULTS.md).  ``MODEL_ZOO_FAST_CONV_LAYOUT`` = any / plain."""
    choice = os.environ.get("MODEL_ZOO_FAST_CONV_LAYOUT", "any")
    return choice if choice in LAYOUTS else "any"


def conv_config(cell):
    """The int32 configuration the kernels read: strides, pads (top, bottom, left, right), dilations, groups,
    whether the pads are MindSpore's 'same' (computed by the kernel from the input size) and the layout."""
    stride_h, stride_w = cell.stride
    dil_h, dil_w = cell.dilation
    mode = str(cell.pad_mode).lower()
    pads = (0, 0, 0, 0)
    if mode == "pad":
        padding = cell.padding
        pads = tuple(padding) if isinstance(padding, (tuple, list)) else (int(padding),) * 4
    return (int(stride_h), int(stride_w)) + tuple(int(p) for p in pads) + (
        int(dil_h), int(dil_w), int(cell.group), 1 if mode == "same" else 0, LAYOUTS[layout(cell)])


def output_size(size, kernel, stride, dilation, pad_begin, pad_end, same):
    """Output extent of one spatial axis (static shapes only: a graph compiled for every input size runs
    MindSpore's operators)."""
    if same:
        return -(-size // stride)
    return (size + pad_begin + pad_end - (kernel - 1) * dilation - 1) // stride + 1


def _forward_shape(cfg):
    sh, sw, pt, pb, pl, pr, dh, dw, _, same = cfg[:10]

    def infer(x_shape, w_shape, _cfg_shape):
        height = output_size(x_shape[2], w_shape[2], sh, dh, pt, pb, same)
        width = output_size(x_shape[3], w_shape[3], sw, dw, pl, pr, same)
        if height < 1 or width < 1:
            # as MindSpore's Conv2D: an error here, not a kernel run on an empty output (which crashed PyNative)
            raise ValueError(f"Conv2d: input {x_shape[2]}x{x_shape[3]} is too small for kernel "
                             f"{w_shape[2]}x{w_shape[3]} with stride {sh}x{sw} and padding ({pt}, {pb}, {pl}, {pr}): "
                             f"the output would be {height}x{width}")
        return [x_shape[0], w_shape[0], height, width]
    return infer


def operators(cfg):
    """The forward Custom operator for one configuration (its bprop calls the backward one).  Cached."""
    if cfg in _STATE["ops"]:
        return _STATE["ops"][cfg]
    from mindspore import ops

    lib = _STATE["lib"]
    zeros = ops.ZerosLike()
    if os.environ.get("MODEL_ZOO_FAST_CONV_BWD", "split") == "joint":
        backward = ops.Custom(f"{lib}:ZooConvBackward", out_shape=lambda dy, x, w, c: (x, w),
                              out_dtype=lambda dy, x, w, c: (x, w), func_type="aot")

        def bprop(x, w, c, out, dout):
            dx, dw = backward(dout, x, w, c)
            return dx, dw, zeros(c)
    else:
        data = ops.Custom(f"{lib}:ZooConvBackwardData", out_shape=lambda dy, x, w, c: x,
                          out_dtype=lambda dy, x, w, c: x, func_type="aot")
        weights = ops.Custom(f"{lib}:ZooConvBackwardWeights", out_shape=lambda dy, x, w, c: w,
                             out_dtype=lambda dy, x, w, c: w, func_type="aot")

        def bprop(x, w, c, out, dout):
            return data(dout, x, w, c), weights(dout, x, w, c), zeros(c)

    forward = ops.Custom(f"{lib}:ZooConvForward", out_shape=_forward_shape(cfg), out_dtype=lambda x, w, c: x,
                         func_type="aot", bprop=bprop)
    # the output shape depends on the configuration, which reaches the kernel as a tensor: as an attribute too, it
    # keeps PyNative's per-operator cache (keyed by name, attributes and input shapes) from reusing the shape
    # inferred for another configuration (a stride-2 conv got the output of a stride-1 one of the same input)
    forward.add_prim_attr("zoo_conv_config", list(cfg))
    _STATE["ops"][cfg] = forward
    return forward


def bn_operators(relu=False):
    """(train, infer) Custom operators of the batch norm kernels (``relu``: followed by a ReLU in the same passes);
    train's bprop calls the gradient one.  Cached."""
    key = ("bn", relu)
    if key in _STATE["ops"]:
        return _STATE["ops"][key]
    from mindspore import ops

    lib, name = _STATE["lib"], "ZooBatchNormRelu" if relu else "ZooBatchNorm"
    zeros = ops.ZerosLike()
    # the ReLU variant's gradient also reads the forward output y (its mask)
    grad = ops.Custom(f"{lib}:{name}Grad", out_shape=lambda dy, x, g, *rest: (x, g, g),
                      out_dtype=lambda dy, x, g, *rest: (x, g, g), func_type="aot")

    def bprop(x, gamma, beta, moving_mean, moving_var, cfg, out, dout):
        if relu:
            dx, dgamma, dbeta = grad(dout[0], x, gamma, out[1], out[2], cfg, out[0])
        else:
            dx, dgamma, dbeta = grad(dout[0], x, gamma, out[1], out[2], cfg)
        return dx, dgamma, dbeta, zeros(moving_mean), zeros(moving_var), zeros(cfg)

    def infer_bprop(x, gamma, beta, mean, var, cfg, out, dout):
        # the moving statistics are constants here (a frozen batch norm, or gradients of an evaluated network)
        if relu:
            dout = dout * (out > 0).astype(dout.dtype)
        invstd = ops.rsqrt(var + cfg[0])
        per_channel = (1, -1, 1, 1)
        xhat = (x - mean.reshape(per_channel)) * invstd.reshape(per_channel)
        return (dout * (gamma * invstd).reshape(per_channel), (dout * xhat).sum((0, 2, 3)), dout.sum((0, 2, 3)),
                zeros(mean), zeros(var), zeros(cfg))

    # the moving statistics are updated in place, inside the kernel (as MindSpore's BatchNorm does): as graph
    # operators, the update took 8 more nodes per batch norm and 190 MB more heap to compile a 121-batch-norm network
    # (benchmarks/RESULTS.md)
    train = ops.Custom(f"{lib}:{name}Train", out_shape=lambda x, g, b, m, v, c: (x, g, g),
                       out_dtype=lambda x, g, b, m, v, c: (x, g, g), func_type="aot", bprop=bprop)
    train.add_prim_attr("side_effect_mem", True)
    infer = ops.Custom(f"{lib}:{name}Infer", out_shape=lambda x, g, b, m, v, e: x,
                       out_dtype=lambda x, g, b, m, v, e: x, func_type="aot", bprop=infer_bprop)
    _STATE["ops"][key] = (train, infer)
    return train, infer


def pool_config(cell):
    """The int32 configuration of a pooling cell, or None for what the kernels do not cover (pad_mode 'pad' and
    its options run MindSpore's operator): [kind, kernel_h, kernel_w, stride_h, stride_w, same]."""
    if getattr(cell, "use_pad", False) or getattr(cell, "is_expand", False):
        return None
    mode = str(cell.pad_mode).lower()
    if mode not in ("valid", "same"):
        return None
    from mindspore import nn

    pair = lambda v: (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))  # noqa: E731
    (kh, kw), (sh, sw) = pair(cell.kernel_size), pair(cell.stride)
    return (0 if isinstance(cell, nn.MaxPool2d) else 1, kh, kw, sh, sw, 1 if mode == "same" else 0)


def _pool_shape(cfg):
    _, kh, kw, sh, sw, same = cfg

    def infer(x_shape, _cfg_shape):
        height = output_size(x_shape[2], kh, sh, 1, 0, 0, same)
        width = output_size(x_shape[3], kw, sw, 1, 0, 0, same)
        if height < 1 or width < 1:
            raise ValueError(f"{('MaxPool2d', 'AvgPool2d')[cfg[0]]}: input {x_shape[2]}x{x_shape[3]} is too small "
                             f"for kernel {kh}x{kw} with stride {sh}x{sw}: the output would be {height}x{width}")
        return [x_shape[0], x_shape[1], height, width]
    return infer


def _pad_shape(cfg):
    top, bottom, left, right = cfg

    def infer(x_shape, _cfg_shape):
        return [x_shape[0], x_shape[1], x_shape[2] + top + bottom, x_shape[3] + left + right]
    return infer


def pad_config(cell):
    """[top, bottom, left, right] of an ``nn.Pad`` that zero-pads the two spatial axes of a 4-D tensor, else None."""
    paddings = cell.paddings
    if cell.mode != "CONSTANT" or not isinstance(paddings, tuple) or len(paddings) != 4:
        return None
    flat = [int(v) for pair in paddings for v in pair]
    if any(flat[:4]) or min(flat) < 0:
        return None
    return tuple(flat[4:])


SPATIAL = {"pool": ("ZooPool", _pool_shape), "pad": ("ZooPad", _pad_shape)}


def spatial_operator(kind, cfg):
    """The forward Custom operator of a pooling ('pool') or zero-padding ('pad') configuration; its bprop calls the
    backward one.  Cached."""
    key = (kind,) + tuple(cfg)
    if key in _STATE["ops"]:
        return _STATE["ops"][key]
    from mindspore import ops

    lib, (name, shape) = _STATE["lib"], SPATIAL[kind]
    zeros = ops.ZerosLike()
    backward = ops.Custom(f"{lib}:{name}Backward", out_shape=lambda dy, x, c: x, out_dtype=lambda dy, x, c: x,
                          func_type="aot")

    def bprop(x, c, out, dout):
        return backward(dout, x, c), zeros(c)

    forward = ops.Custom(f"{lib}:{name}Forward", out_shape=shape(cfg), out_dtype=lambda x, c: x, func_type="aot",
                         bprop=bprop)
    forward.add_prim_attr(f"zoo_{kind}_config", list(cfg))  # see operators(): PyNative's shape cache
    _STATE["ops"][key] = forward
    return forward


def attach(cell):
    """Give one ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` or ``nn.Pad`` the fast
    operators (no-op for the layouts and modes they do not cover)."""
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    if not _STATE["enabled"] or getattr(cell, "data_format", getattr(cell, "format", "NCHW")) != "NCHW":
        return False
    if isinstance(cell, (nn.MaxPool2d, nn.AvgPool2d, nn.Pad)):
        kind = "pad" if isinstance(cell, nn.Pad) else "pool"
        cfg = (pad_config if kind == "pad" else pool_config)(cell)
        if cfg is None or os.environ.get("MODEL_ZOO_FAST_POOL", "1") == "0":
            return False
        cell._zoo_op = spatial_operator(kind, cfg)
        cell._zoo_cfg = ms.Tensor(np.array(cfg, np.int32))
    elif isinstance(cell, nn.BatchNorm2d):
        if os.environ.get("MODEL_ZOO_FAST_BN", "1") == "0":
            return False
        cell._zoo_bn_train, cell._zoo_bn_infer = bn_operators()
        # MindSpore's BatchNorm: moving = (1 - m) * moving + m * batch, m = cell.momentum (1 - the constructor's)
        cell._zoo_bn_cfg = ms.Tensor(np.array([cell.eps, cell.momentum, 1.0 - cell.momentum], np.float32))
    else:
        cfg = conv_config(cell)
        cell._zoo_conv = operators(cfg)
        cell._zoo_cfg = ms.Tensor(np.array(cfg, np.int32))
    cell._zoo_fast = True
    return True


def _fast_construct(self, x):
    # float32 only: a cell under mixed precision (AMP O2/O3, export --export_fp16) runs its operators in float16;
    # static shapes only: a graph compiled for every input size (set_inputs with None, e.g. dense evaluation) runs
    # MindSpore's operator
    if self._zoo_fast and self.mixed_precision_type is None and x.dtype == self._zoo_dtype and \
            ops.isconstant(x.shape):
        output = self._zoo_conv(x, self.weight, self._zoo_cfg)
    else:
        output = self.conv2d(x, self.weight)
    if self.has_bias:
        output = self.bias_add(output, self.bias)
    return output


def _fast_bn_construct(self, x):
    training = self.training if self.use_batch_statistics is None else self.use_batch_statistics
    if self._zoo_fast and self.mixed_precision_type is None and x.dtype == self._zoo_dtype and \
            ops.isconstant(x.shape):
        if training:
            return self._zoo_bn_train(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                      self._zoo_bn_cfg)[0]
        return self._zoo_bn_infer(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                  self._zoo_bn_cfg)
    if training:
        y = self.bn_train(x, self.gamma, self.beta, self.moving_mean, self.moving_variance)[0]
    else:
        y = self.bn_infer(x, self.gamma, self.beta, self.moving_mean, self.moving_variance)[0]
    if self._zoo_relu:  # fused with the ReLU that follows (fuse()): that ReLU passes its input through
        y = ops.relu(y)
    return y


def _fast_relu_construct(self, x):
    if self._zoo_skip:  # the batch norm before it applied it (fuse())
        return x
    return self.relu(x)


def _fast_spatial_construct(self, x):
    # pooling and zero padding: the kernels' cases only (float32, 4-D, static shape); 3-D input and the rest run
    # MindSpore's construct
    if self._zoo_fast and self.mixed_precision_type is None and x.dtype == self._zoo_dtype and x.ndim == 4 and \
            ops.isconstant(x.shape):
        return self._zoo_op(x, self._zoo_cfg)
    return self._zoo_native_construct(x)


def _patch_cells():
    """``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` and ``nn.Pad`` get a fast branch (off
    for every instance until :func:`attach`); new instances attach.  ``nn.ReLU`` gets a pass-through for
    :func:`fuse`."""
    if _STATE["patched"]:
        return
    import mindspore as ms
    from mindspore import nn

    for cls, construct in ((nn.Conv2d, _fast_construct), (nn.BatchNorm2d, _fast_bn_construct),
                           (nn.MaxPool2d, _fast_spatial_construct), (nn.AvgPool2d, _fast_spatial_construct),
                           (nn.Pad, _fast_spatial_construct), (nn.ReLU, _fast_relu_construct)):
        if cls is not nn.ReLU:  # a ReLU has no operator of its own: fuse() lets the batch norm before it apply it
            original_init = cls.__init__

            def __init__(self, *args, _original=original_init, **kwargs):
                _original(self, *args, **kwargs)
                attach(self)

            cls.__init__ = __init__
        cls._zoo_fast = False
        cls._zoo_relu = False
        cls._zoo_skip = False
        cls._zoo_dtype = ms.float32
        cls._zoo_native_construct = cls.construct
        # a function of its own per class (the pooling classes share one body)
        construct = types.FunctionType(construct.__code__, construct.__globals__, "construct")
        construct.__qualname__ = f"{cls.__name__}.construct"
        cls.construct = construct
    _STATE["patched"] = True


@functools.lru_cache(maxsize=None)
def _nested_calls(cls):
    """``(outer, inner)`` attribute names of every ``self.outer(self.inner(x))`` in the class's source (its own and
    its bases' outside MindSpore), and how often each ``self.name`` is read there; None when the class reaches its
    cells dynamically (getattr, cell lists) or its source cannot be read."""
    import ast
    import inspect
    import textwrap

    uses, pairs = {}, []
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == "mindspore":  # nn.Cell and what it derives from
            break
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars"):
                return None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                if node.attr in ("cell_list", "_cells", "cells", "name_cells", "cells_and_names", "__dict__"):
                    return None
                if isinstance(node.ctx, ast.Load):
                    uses[node.attr] = uses.get(node.attr, 0) + 1
            if isinstance(node, ast.Call) and _self_attr(node.func) and len(node.args) == 1 and not node.keywords:
                inner = node.args[0]
                if isinstance(inner, ast.Call) and _self_attr(inner.func):
                    pairs.append((node.func.attr, inner.func.attr))
    return pairs, uses


def _self_attr(node):
    import ast

    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def fuse(net):
    """Let each fast ``nn.BatchNorm2d`` whose output only feeds an ``nn.ReLU`` apply that ReLU in its own kernels
    (one pass over the data instead of two, forward and backward); the ReLU then passes its input through.  Only
    what the structure proves is fused: consecutive cells of a plain ``nn.SequentialCell``, or
    ``self.relu(self.bn(...))`` in a construct that names each of the two once; every cell used at one place only.
    Parameters, their names and outputs do not change (MindSpore's batch norm, in :func:`native` or a fallback,
    applies the ReLU itself).  Returns the number of pairs fused."""
    from mindspore import nn

    if not _STATE["enabled"] or os.environ.get("MODEL_ZOO_FAST_BN", "1") == "0" or net is None:
        return 0
    parents = {}
    for _, cell in net.cells_and_names():
        for child in cell._cells.values():
            if child is not None:
                parents[id(child)] = parents.get(id(child), 0) + 1

    def fusable(bn, relu):
        return isinstance(bn, nn.BatchNorm2d) and type(relu) is nn.ReLU and bn._zoo_fast and not bn._zoo_relu and \
            not relu._zoo_skip and parents.get(id(bn)) == 1 and parents.get(id(relu)) == 1

    pairs = []
    for _, cell in net.cells_and_names():
        if type(cell).construct is nn.SequentialCell.construct:
            cells = list(cell._cells.values())
            pairs += [(a, b) for a, b in zip(cells, cells[1:]) if fusable(a, b)]
        else:
            found = _nested_calls(type(cell))
            if found is None:
                continue
            calls, uses = found
            for outer, inner in calls:
                relu, bn = cell._cells.get(outer), cell._cells.get(inner)
                if uses.get(outer) == 1 and uses.get(inner) == 1 and fusable(bn, relu):
                    pairs.append((bn, relu))
    for bn, relu in pairs:
        bn._zoo_relu, relu._zoo_skip = True, True
        bn._zoo_bn_train, bn._zoo_bn_infer = bn_operators(relu=True)
    return len(pairs)


def enable(log=None):
    """Turn the fast path on for the ``nn.Conv2d`` cells built from now on.  Returns a one-line status.

    Never raises: when the kernel cannot be built or loaded it prints (``log``, default stderr) one line saying
    why and how to get it, and MindSpore's own operator runs."""
    log = log or note
    if _STATE["status"] is not None:
        return _STATE["status"]
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "off", "no"):
        _STATE["status"] = f"fast convolution off ({ENV_SWITCH}={os.environ[ENV_SWITCH]}): MindSpore's Conv2D runs"
        return _STATE["status"]
    try:
        lib = library(log)
    except Unavailable as exc:
        _STATE["status"] = (f"fast convolution off: {exc.reason}; MindSpore's Conv2D runs instead"
                            + (f". To enable it: {exc.hint}" if exc.hint else ""))
        log(_STATE["status"])
        return _STATE["status"]
    _STATE["enabled"] = True
    _patch_cells()
    _patch_exports()
    _STATE["status"] = f"fast convolution on: oneDNN blocked-layout kernels ({lib})"
    return _STATE["status"]


def enabled():
    return _STATE["enabled"]


def prepare(net):
    """Attach the fast operators to the cells of ``net`` built before :func:`enable`, then :func:`fuse` it.
    Returns the number of cells attached."""
    from mindspore import nn

    count = 0
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.Pad)) and not cell._zoo_fast:
            count += bool(attach(cell))
    fuse(net)
    return count


def _patch_exports():
    """``mindspore.export`` and ``mindspore.onnx.export`` write MindSpore's own operators, whoever calls them: a
    file naming the zoo's Custom kernels would only load where they are built."""
    import mindspore
    import mindspore.onnx
    from mindspore.train import serialization

    def wrap(original):
        def export(net, *args, **kwargs):
            with native(net):
                return original(net, *args, **kwargs)
        export.__doc__, export.__wrapped__ = original.__doc__, original
        return export

    for module in (mindspore, serialization, mindspore.onnx):
        if not hasattr(module.export, "__wrapped__"):
            module.export = wrap(module.export)


@contextlib.contextmanager
def native(*nets):
    """Run (and export) ``nets`` with MindSpore's own Conv2D inside the block."""
    switched = []
    for net in nets:
        if net is None or not _STATE["patched"]:
            continue
        for _, cell in net.cells_and_names():
            if getattr(cell, "_zoo_fast", False):
                cell._zoo_fast = False
                switched.append(cell)
    try:
        yield
    finally:
        for cell in switched:
            cell._zoo_fast = True
