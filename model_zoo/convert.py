"""Convert timm / torchvision ImageNet weights into zoo checkpoints.

    python -m model_zoo.convert --arch vgg16_bn --src vgg16_bn-6c64b313.pth --dst vgg16_bn.ckpt
    python -m model_zoo.convert --arch inception_v4 --src model.safetensors --dst inception_v4.ckpt

Sources: ``.pth`` / ``.pt`` / ``.bin`` (PyTorch pickles, read with ``torch.load(weights_only=True)``: needs
PyTorch, imported only then) and ``.safetensors`` (read with numpy alone).  Wrappers are unpacked
(``{'state_dict': ...}``, ``{'model': ...}``, ``{'module': ...}``, ``module.`` prefixes).

Name mapping (our networks mirror the reference names, see each ``src/`` network's docstring):

* BatchNorm ``weight/bias/running_mean/running_var`` -> ``gamma/beta/moving_mean/moving_variance``;
  ``num_batches_tracked`` is dropped.
* VGG: torchvision ``features.N`` / ``classifier.0/3/6`` as they are; timm's ``pre_logits.fc1`` (a 7x7 conv
  512->4096, reshaped to the Dense 25088->4096), ``pre_logits.fc2`` (1x1 conv) and ``head.fc`` become
  ``classifier.0/3/6``.
* DenseNet: torchvision/timm keys as they are; old-style ``denselayerN.norm.1`` / ``conv.2`` keys (which
  torchvision renames with a regex when it loads them) become ``norm1`` / ``conv2``.
* InceptionV4: timm keys as they are.

Preprocessing and class names travel with the checkpoint.  The preprocessing is the arch's timm / torchvision
default unless the weights come with a timm ``config.json`` (the Hugging Face hub layout: ``model.safetensors`` +
``config.json`` in one folder; or ``--timm_config FILE``): its ``pretrained_cfg`` (input_size, interpolation,
crop_pct, mean, std) is what those weights were trained and evaluated with, e.g. bicubic for timm's
``densenet121.ra_in1k``.  ``--interpolation`` / ``--crop_pct`` override both.  Class names: ``--class_file``, else
the config's ``label_names``, else for 1000 classes the ImageNet-1k synsets (``predict.py`` shows their names), else
'0'..'N-1'.

The target network is the reference architecture, which is not always the upstream recipe's: DenseNet with
average-pool transitions (``transition_pool='avg'``), InceptionV4 with the timm head (``head='reference'``), VGG
with conv biases (``has_bias=True``).  The checkpoint records that (``zoo_transition_pool``, ``zoo_head``,
``zoo_has_bias``) with the arch, classes and the preprocessing the weights expect (``zoo_preprocess``), and
``eval.py --pre_trained converted.ckpt`` picks all of it up (:mod:`model_zoo.engine.weights_meta`).

A file that does not fit the architecture (wrong ``--arch``, missing or unexpected keys, wrong shapes) is refused
with one line naming the first offending keys and, when it can tell, the architecture the file looks like.
"""
import argparse
import json
import math
import pickle
import re
import struct
import sys
from pathlib import Path

import numpy as np

from model_zoo.engine.errors import CheckpointError, ZooError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
WRAPPER_KEYS = ("state_dict", "model", "module", "net", "network")
BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
# torchvision's densenet._load_state_dict pattern for pre-0.3 checkpoints ('norm.1.weight' -> 'norm1.weight')
OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")
TIMM_VGG_HEAD = {"pre_logits.fc1.": "classifier.0.", "pre_logits.fc2.": "classifier.3.", "head.fc.": "classifier.6."}

# per recipe: builder kwargs of the reference-compatible network, its classifier weight, and what differs upstream
TARGETS = {
    "vgg19": dict(kwargs={"has_bias": True}, classifier="classifier.6.weight", meta={"zoo_has_bias": "true"},
                  note="VGG is built with conv biases (has_bias=True, as torchvision/timm); the upstream ImageNet "
                       "YAML sets has_bias False"),
    "densenet121": dict(kwargs={"transition_pool": "avg"}, classifier="classifier.weight",
                        meta={"zoo_transition_pool": "avg"},
                        note="DenseNet is built with average-pool transitions (transition_pool='avg', as the paper, "
                             "torchvision and timm); the upstream MindSpore DenseNet121 uses max-pool transitions"),
    "inceptionv4": dict(kwargs={"head": "reference"}, classifier="last_linear.weight", meta={"zoo_head": "reference"},
                        note="InceptionV4 is built with the reference head (head='reference': Dropout-Dense, as "
                             "timm); the upstream head is BN-Dropout-Dense-BN-LogSoftmax"),
}
DENSENET_BLOCKS = {(6, 12, 24, 16): "densenet121", (6, 12, 36, 24): "densenet161", (6, 12, 32, 32): "densenet169",
                   (6, 12, 48, 32): "densenet201", (16, 16, 16): "densenet100"}
VGG_CONVS = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------

_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                       "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """{name: numpy array} of a ``.safetensors`` file, with numpy alone (BF16 widened to float32)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > path.stat().st_size:
                raise ValueError("header length beyond the end of the file")
            header = json.loads(handle.read(size))
        data = np.memmap(path, dtype=np.uint8, mode="r")
        base = 8 + size
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = np.asarray(data[base + start:base + end])
            if info["dtype"] == "BF16":
                array = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                array = raw.view(_SAFETENSORS_DTYPES[info["dtype"]])
            out[name] = array.reshape(info["shape"]).copy()
        return out
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise CheckpointError(f"{path} is not a readable .safetensors file ({exc.__class__.__name__}: "
                              f"{str(exc)[:100]})") from None


def read_torch(path, allow_pickle=False):
    """The object of a PyTorch ``.pth``: needs PyTorch, loaded with ``weights_only=True`` unless allowed."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"reading {Path(path).name} needs PyTorch (pip install torch; the CPU build is enough), "
                              f"or bring the weights as .safetensors, which needs no PyTorch") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds Python objects besides tensors ({str(exc).splitlines()[0][:120]}); "
                              f"if you trust where it comes from, pass --allow_pickle") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    return None


def unwrap(obj):
    """The flat {name: array} state dict inside a checkpoint object ('state_dict'/'model'/'module' wrappers,
    ``module.`` prefixes of DataParallel)."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):  # a whole pickled nn.Module (--allow_pickle)
        obj = obj.state_dict()
    for _ in range(3):
        if not isinstance(obj, dict):
            break
        if any(_to_numpy(v) is not None for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise CheckpointError(f"the file holds a {type(obj).__name__}, not a state dict of tensors")
    state = {}
    for name, value in obj.items():
        array = _to_numpy(value)
        if array is not None:
            state[str(name)] = array
    if not state:
        raise CheckpointError(f"no tensors found in the file (top-level keys: {', '.join(map(str, list(obj)[:5]))})")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def read_state_dict(src, allow_pickle=False):
    """{name: numpy array} of a ``.safetensors`` or PyTorch file."""
    src = Path(src)
    if not src.is_file():
        raise CheckpointError(f"source weights {src} not found; pass an existing .pth/.safetensors file to --src")
    if src.suffix.lower() == ".safetensors":
        return unwrap(read_safetensors(src))
    if src.suffix.lower() in TORCH_SUFFIXES:
        return unwrap(read_torch(src, allow_pickle))
    raise CheckpointError(f"--src {src.name}: unknown format {src.suffix!r}; use .pth, .pt, .bin or .safetensors")


# ---------------------------------------------------------------------------------------------------------------
# mapping
# ---------------------------------------------------------------------------------------------------------------

def normalize_keys(state, recipe):
    """Source names -> torchvision-style names: drop num_batches_tracked, old DenseNet keys, timm's VGG head."""
    out = {}
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        if recipe == "densenet121":
            match = OLD_DENSENET_KEY.match(name)
            if match:
                name = match.group(1) + match.group(2)  # 'norm.1.weight' -> 'norm1.weight'
        if recipe == "vgg19":
            for old, new in TIMM_VGG_HEAD.items():
                if name.startswith(old):
                    name = new + name[len(old):]
                    if value.ndim == 4:  # timm's conv head: (out, in, kh, kw) -> Dense (out, in * kh * kw)
                        value = value.reshape(value.shape[0], -1)
        out[name] = value
    return out


def to_own_names(state, own):
    """Map normalized source names onto the network's parameter names (BatchNorm renames); returns
    (mapped {own name: array}, unexpected source names)."""
    mapped, unexpected = {}, []
    for name, value in state.items():
        prefix, _, leaf = name.rpartition(".")
        candidates = [name]
        if leaf in BN_NAMES:
            candidates.insert(0, f"{prefix}.{BN_NAMES[leaf]}")
        target = next((c for c in candidates if c in own), None)
        if target is None:
            unexpected.append(name)
        else:
            mapped[target] = value
    return mapped, unexpected


def guess_arch(state):
    """The registered architecture a (normalized) state dict looks like, or None."""
    keys = set(state)
    if "last_linear.weight" in keys and any(k.startswith("features.21.branch") for k in keys):
        return "inception_v4"
    blocks = {}
    for key in keys:
        match = re.match(r"features\.denseblock(\d+)\.denselayer(\d+)\.", key)
        if match:
            block, layer = int(match.group(1)), int(match.group(2))
            blocks[block] = max(blocks.get(block, 0), layer)
    if blocks:
        return DENSENET_BLOCKS.get(tuple(blocks[b] for b in sorted(blocks)))
    convs = [k for k in keys if re.match(r"features\.\d+\.weight$", k) and state[k].ndim == 4]
    if convs and ("classifier.6.weight" in keys or "pre_logits.fc1.weight" in keys):
        batch_norm = any(re.match(r"features\.\d+\.running_mean$", k) for k in keys)
        name = VGG_CONVS.get(len(convs))
        if name == "vgg16" and any(state[k].shape[-1] == 1 for k in convs):
            name = "vgg16_c"
        return f"{name}_bn" if name and batch_norm else name
    return None


def _shape(value):
    return tuple(int(v) for v in value.shape)


def check_fit(src, arch, own, mapped, unexpected, state, num_classes_given, classifier):
    """Refuse a file that does not fit the network, in one line naming the first problems."""
    missing = [n for n in own if n not in mapped]
    wrong = [(n, _shape(mapped[n]), own[n]) for n in own if n in mapped and _shape(mapped[n]) != own[n]]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) e.g. {', '.join(unexpected[:3])}")
    if wrong:
        name, got, want = wrong[0]
        more = f" (and {len(wrong) - 1} more shape mismatches)" if len(wrong) > 1 else ""
        parts.append(f"{name} has shape {got}, expected {want}{more}")
    head = classifier.rpartition(".")[0] + "."
    guess = guess_arch(state)
    if wrong and not (missing or unexpected) and all(n.startswith(head) for n, _, _ in wrong):
        classes = _shape(mapped[classifier])[0] if classifier in mapped else "other"
        hint = (f"; the file has {classes} classes: drop --num_classes or set it to {classes}" if num_classes_given
                else "; check --arch")
    elif guess and guess != arch:
        hint = f"; the file looks like a {guess} checkpoint: use --arch {guess}"
    elif guess == arch and (missing or unexpected):
        hint = "; the file has this architecture's layout but not all of its tensors (truncated or edited?)"
    else:
        hint = "; check --arch"
    raise CheckpointError(f"{Path(src).name} does not fit --arch {arch}: {'; '.join(parts)}{hint}")


# ---------------------------------------------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------------------------------------------

TIMM_CONFIG = "config.json"
INTERPOLATIONS = ("bilinear", "bicubic")


def _numbers(value, count, what, where):
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != count:
        raise CheckpointError(f"{where}: pretrained_cfg {what} must be a list of {count} numbers, got {value!r}")
    return numbers


def read_timm_config(path):
    """The preprocessing a timm ``config.json`` (``save_for_hf`` / the Hugging Face hub layout) records for its
    weights: {'architecture', 'input_size', 'interpolation', 'crop_pct', 'mean', 'std', 'label_names'}, only the
    keys it has.  Interpolations other than bilinear / bicubic are refused (the zoo's eval pipeline has those)."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable timm config.json ({exc.__class__.__name__}: "
                              f"{str(exc)[:100]})") from None
    pcfg = config.get("pretrained_cfg") if isinstance(config, dict) else None
    if not isinstance(pcfg, dict):
        raise CheckpointError(f"{path} has no 'pretrained_cfg' mapping: not a timm model config.json (pass "
                              f"--timm_config none to ignore it)")
    out = {}
    if config.get("architecture") or pcfg.get("architecture"):
        out["architecture"] = str(config.get("architecture") or pcfg.get("architecture"))
    if pcfg.get("input_size") is not None:
        size = _numbers(pcfg["input_size"], 3, "input_size", path)
        out["input_size"] = (int(size[1]), int(size[2]))
    if pcfg.get("interpolation"):
        inter = str(pcfg["interpolation"]).lower()
        if inter not in INTERPOLATIONS:
            raise CheckpointError(f"{path}: interpolation {inter!r} is not supported (bilinear or bicubic); pass "
                                  f"--interpolation to choose one")
        out["interpolation"] = inter
    if pcfg.get("crop_pct") is not None:
        out["crop_pct"] = float(pcfg["crop_pct"])
        if not 0.0 < out["crop_pct"] <= 1.0:
            raise CheckpointError(f"{path}: crop_pct {out['crop_pct']} is not in (0, 1]")
    for key in ("mean", "std"):
        if pcfg.get(key) is not None:
            out[key] = _numbers(pcfg[key], 3, key, path)
    names = config.get("label_names") or pcfg.get("label_names")
    if isinstance(names, (list, tuple)) and names:
        out["label_names"] = [str(n) for n in names]
    return out


def find_timm_config(src, timm_config=None):
    """The timm config to read: ``--timm_config`` (a path; 'none' = no config), else ``config.json`` beside the
    source weights when there is one, else None."""
    if timm_config is not None:
        if str(timm_config).lower() in ("", "none"):
            return None
        path = Path(timm_config)
        if not path.is_file():
            raise CheckpointError(f"--timm_config {path} not found")
        return path
    beside = Path(src).with_name(TIMM_CONFIG)
    return beside if beside.is_file() else None


def preprocess_for(spec, interpolation=None, crop_pct=None, timm_cfg=None):
    """zoo_preprocess of converted weights: the arch's pretrained_cfg (timm's / torchvision's values), overridden by
    a timm config.json's (``timm_cfg`` as :func:`read_timm_config` returns it), overridden by the flags.

    ``resize_ratio`` is ``size / floor(size / crop_pct)``, so that the zoo's ``round(size / ratio)`` gives timm's
    ``floor(size / crop_pct)``: 256 for 224 (ratio 0.875) and 341 for 299."""
    pcfg = spec.pretrained_cfg
    timm_cfg = timm_cfg or {}
    height, width = timm_cfg.get("input_size") or pcfg.input_size[1:]
    crop = float(crop_pct or timm_cfg.get("crop_pct") or pcfg.crop_pct)
    inter = interpolation or timm_cfg.get("interpolation") or pcfg.interpolation
    if inter not in INTERPOLATIONS:
        raise CheckpointError(f"--interpolation {inter!r}: use bilinear or bicubic")
    mean = timm_cfg.get("mean") or pcfg.mean
    std = timm_cfg.get("std") or pcfg.std
    return {"dataset": "imagenet2012", "image_size": [int(height), int(width)],
            "resize_ratio": height / math.floor(height / crop), "crop_pct": crop, "keep_aspect": True,
            "interpolation": inter, "mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def read_classes(path, num_classes, label_names=None):
    """Class names: a --class_file, else a timm config's label_names, else the ImageNet-1k synsets for 1000
    classes (predict.py shows their human names), else '0'..'N-1'."""
    if path is None:
        if label_names and len(label_names) == num_classes:
            return list(label_names)
        if num_classes == 1000:
            from model_zoo.engine.deploy.labels import imagenet_synsets

            return imagenet_synsets()
        return [str(i) for i in range(num_classes)]
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) != num_classes:
        raise CheckpointError(f"--class_file {path} has {len(lines)} names for {num_classes} classes")
    return lines


def convert(arch, src, dst, num_classes=None, class_file=None, interpolation=None, crop_pct=None,
            allow_pickle=False, log=print, timm_config=None):
    """Convert timm/torchvision weights ``src`` for ``arch`` into the zoo checkpoint ``dst``.

    ``timm_config``: a timm ``config.json`` whose pretrained_cfg gives the preprocessing (None: ``config.json``
    beside ``src`` when there is one; 'none': ignore any).  Returns a dict (dst, arch, num_classes, tensors,
    preprocess, timm_config).  Raises :class:`CheckpointError` (one line) when the file does not fit."""
    import mindspore as ms

    from model_zoo.engine import checkpoint as ckpt_io
    from model_zoo.engine.registry import create_model, model_spec

    spec = model_spec(arch)
    if spec.recipe not in TARGETS:
        raise CheckpointError(f"--arch {spec.name}: no reference weights to convert for the {spec.recipe} recipe")
    target = TARGETS[spec.recipe]
    state = normalize_keys(read_state_dict(src, allow_pickle), spec.recipe)
    head = state.get(target["classifier"])
    file_classes = int(head.shape[0]) if head is not None and head.ndim == 2 else None
    classes = int(num_classes or file_classes or spec.pretrained_cfg.num_classes)
    kwargs = dict(target["kwargs"])
    if spec.recipe == "vgg19":
        kwargs["image_size"] = tuple(spec.pretrained_cfg.input_size[1:])
    try:  # only names and shapes are needed: skip the (for VGG: seconds long) weight initialisation
        from mindspore.nn.utils import no_init_parameters
    except ImportError:  # pragma: no cover - older MindSpore
        from contextlib import nullcontext as no_init_parameters
    with no_init_parameters():
        net = create_model(spec.name, num_classes=classes, **kwargs)
    own = {p.name: tuple(int(v) for v in p.shape) for p in net.get_parameters()}
    mapped, unexpected = to_own_names(state, own)
    check_fit(src, spec.name, own, mapped, unexpected, state, num_classes is not None, target["classifier"])

    config_path = find_timm_config(src, timm_config)
    timm_cfg = {}
    if config_path:
        try:
            timm_cfg = read_timm_config(config_path)
        except CheckpointError as exc:
            if timm_config is not None:  # named by the user: its problems are errors
                raise
            log(f"note: ignoring {config_path} beside the weights ({exc})")
            config_path = None
    if spec.recipe == "vgg19" and "input_size" in timm_cfg and \
            tuple(timm_cfg["input_size"]) != tuple(spec.pretrained_cfg.input_size[1:]):
        size = spec.pretrained_cfg.input_size[1:]
        log(f"note: {config_path.name} gives input size {timm_cfg['input_size']}, but the converted VGG classifier "
            f"is built for {size[0]}x{size[1]}: using {size[0]}x{size[1]}")
        timm_cfg.pop("input_size")
    preprocess = preprocess_for(spec, interpolation, crop_pct, timm_cfg)
    if config_path:
        used = ", ".join(k for k in ("input_size", "interpolation", "crop_pct", "mean", "std") if k in timm_cfg)
        log(f"note: preprocessing from {config_path} ({used or 'nothing usable'}; flags override it)")
        described = timm_cfg.get("architecture", "").split(".")[0]
        if described and described != spec.name and model_spec_name(described) != spec.name:
            log(f"warning: {config_path.name} describes a {described!r} model, not {spec.name}")
    meta = {"zoo_arch": spec.name, "zoo_recipe": spec.recipe,
            "zoo_classes": json.dumps(read_classes(class_file, classes, timm_cfg.get("label_names"))),
            "zoo_preprocess": json.dumps(preprocess),
            "zoo_source": json.dumps({"file": Path(src).name, "converter": "model_zoo.convert"})}
    meta.update(target["meta"])
    entries = [{"name": name, "data": ms.Tensor(np.ascontiguousarray(mapped[name], dtype=np.float32))}
               for name in own]
    ckpt_io.save(entries, dst, append_dict=meta)
    log(f"note: {target['note']}; the checkpoint records it, so eval.py builds the same network")
    log(f"converted {Path(src).name} -> {dst}: {spec.name}, {classes} classes, {len(entries)} tensors; "
        f"preprocess {preprocess['image_size'][0]}x{preprocess['image_size'][1]} "
        f"(resize {math.floor(preprocess['image_size'][0] / preprocess['crop_pct'])}, {preprocess['interpolation']}, "
        f"mean {tuple(preprocess['mean'])}, std {tuple(preprocess['std'])})")
    return {"dst": str(dst), "arch": spec.name, "num_classes": classes, "tensors": len(entries),
            "preprocess": preprocess, "timm_config": str(config_path) if config_path else None}


def model_spec_name(name):
    """The registered name of an architecture name, or None."""
    from model_zoo.engine.registry import model_spec

    try:
        return model_spec(name).name
    except ZooError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m model_zoo.convert",
        description="Convert timm / torchvision weights (.pth, .safetensors) into a zoo checkpoint (.ckpt).")
    parser.add_argument("--arch", required=True, help="vgg11..vgg19(_bn), densenet121/161/169/201, inception_v4")
    parser.add_argument("--src", required=True, help="source weights: .pth/.pt/.bin (needs PyTorch) or .safetensors")
    parser.add_argument("--dst", required=True, help="output MindSpore checkpoint (.ckpt)")
    parser.add_argument("--num_classes", type=int, default=None, help="classifier outputs (default: from the file)")
    parser.add_argument("--class_file", default=None,
                        help="class names, one per line (default: a timm config.json's label_names, else the "
                             "ImageNet-1k synsets for 1000 classes, else '0'..'N-1')")
    parser.add_argument("--timm_config", default=None,
                        help="timm config.json whose pretrained_cfg gives the preprocessing (default: config.json "
                             "beside --src when there is one, as in a Hugging Face hub download; 'none' = ignore)")
    parser.add_argument("--interpolation", choices=INTERPOLATIONS, default=None,
                        help="eval resize interpolation the weights expect (default: the timm config.json's, else "
                             "the arch's timm/torchvision value; timm's densenet*.ra_in1k weights use bicubic)")
    parser.add_argument("--crop_pct", type=float, default=None,
                        help="eval centre-crop fraction (default: the timm config.json's, else 0.875)")
    parser.add_argument("--allow_pickle", action="store_true",
                        help="load .pth files holding Python objects besides tensors (only for trusted files)")
    parser.add_argument("--debug", action="store_true", help="full tracebacks")
    args = parser.parse_args(argv)
    try:
        convert(args.arch, args.src, args.dst, num_classes=args.num_classes, class_file=args.class_file,
                interpolation=args.interpolation, crop_pct=args.crop_pct, allow_pickle=args.allow_pickle,
                timm_config=args.timm_config)
        return 0
    except ZooError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
