"""What travels with converted weights besides the tensors: their eval preprocessing and their class names.

The preprocessing of timm / torchvision weights is the arch's ``pretrained_cfg`` (timm's / torchvision's values)
unless a timm ``config.json`` comes with them (the Hugging Face hub layout: ``model.safetensors`` + ``config.json``
in one folder, or ``--timm_config FILE``): its ``pretrained_cfg`` (input_size, interpolation, crop_pct, mean, std)
is what those weights were trained and evaluated with.  Class names: a class file, else the config's
``label_names``, else the ImageNet-1k synsets for 1000 classes, else '0'..'N-1'.
"""
import json
import math
from pathlib import Path

from model_zoo.engine.errors import CheckpointError

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


def resize_ratio(height, crop):
    """``size / floor(size / crop_pct)``, so that the zoo's ``round(size / ratio)`` gives timm's
    ``floor(size / crop_pct)``: 256 for 224 (ratio 0.875) and 341 for 299."""
    return height / math.floor(height / crop)


def preprocess_for(pcfg, interpolation=None, crop_pct=None, timm_cfg=None):
    """zoo_preprocess of converted timm / torchvision weights: the arch's pretrained_cfg, overridden by a timm
    config.json's (``timm_cfg`` as :func:`read_timm_config` returns it), overridden by the flags."""
    timm_cfg = timm_cfg or {}
    height, width = timm_cfg.get("input_size") or pcfg.input_size[1:]
    crop = float(crop_pct or timm_cfg.get("crop_pct") or pcfg.crop_pct)
    inter = interpolation or timm_cfg.get("interpolation") or pcfg.interpolation
    if inter not in INTERPOLATIONS:
        raise CheckpointError(f"--interpolation {inter!r}: use bilinear or bicubic")
    mean = timm_cfg.get("mean") or pcfg.mean
    std = timm_cfg.get("std") or pcfg.std
    return {"dataset": "imagenet2012", "image_size": [int(height), int(width)],
            "resize_ratio": resize_ratio(height, crop), "crop_pct": crop, "keep_aspect": True,
            "interpolation": inter, "mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def read_classes(path, num_classes, label_names=None):
    """Class names: a --class_file, else ``label_names`` (a timm config's, a checkpoint's) of the right length,
    else the ImageNet-1k synsets for 1000 classes (predict.py shows their human names), else '0'..'N-1'."""
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
