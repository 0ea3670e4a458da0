"""What a checkpoint's ``zoo_*`` entries set in the configuration, so a user need not know how its weights were made.

A zoo checkpoint (trained here, or converted by ``python -m model_zoo.convert``) records its arch, class names, the
inference preprocessing its weights expect (``zoo_preprocess``) and the recipe's network options (the keys its
weight maps declare, :attr:`model_zoo.engine.weights.WeightMaps.network_keys`).  :func:`meta_options` turns them
into config values; :mod:`model_zoo.engine.weights` applies them under the command line (a flag always wins).
"""
from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import CheckpointError

# zoo_preprocess field -> config key
PREPROCESS_KEYS = {"resize_ratio": "eval_resize_ratio", "keep_aspect": "eval_keep_aspect",
                   "interpolation": "eval_interpolation", "mean": "eval_mean", "std": "eval_std"}
IMAGENET_LAYOUTS = ("imagenet2012", "imagenet")


def read_meta(path):
    """The ``zoo_*`` entries of a checkpoint file, or {} when it has none or cannot be read (the weight load
    that follows reports an unreadable file)."""
    try:
        params = ckpt_io.read(path, choice_func=lambda name: name.startswith("zoo_"), log=None)
    except Exception:  # noqa: BLE001 - any unreadable file: the weight load after this names the problem
        return {}
    return ckpt_io.metadata(params)


def meta_options(cfg, meta, recipe_name=None, network_keys=(), preprocessing=True):
    """{config key: value} the metadata (as :func:`model_zoo.engine.checkpoint.metadata` returns it) sets where
    ``cfg`` differs and the command line is silent; ``cfg`` is not changed.  ``preprocessing=False`` leaves out the
    eval preprocessing and the data set (a training run keeps its own)."""
    if not meta:
        return {}
    if recipe_name and meta.get("recipe") and meta["recipe"] != recipe_name:
        raise CheckpointError(f"the checkpoint holds a {meta.get('arch', '?')} network of the {meta['recipe']} recipe; "
                              f"use the scripts of model_zoo/{meta['recipe']}/")
    sources = getattr(cfg, "sources", {})

    def user_set(*keys):
        return any(sources.get(key) == "command line" for key in keys)

    changes = {}

    def put(key, value):
        if key in cfg and not user_set(key) and cfg[key] != value:
            changes[key] = value

    if meta.get("arch") and "arch" in cfg:
        put("arch", str(meta["arch"]))
    if isinstance(meta.get("classes"), list) and meta["classes"]:
        put("num_classes", len(meta["classes"]))
    for key in network_keys:
        if key in meta:
            put(key, meta[key])
    if not preprocessing:
        return changes
    pre = meta.get("preprocess") or {}
    size = pre.get("image_size")
    if size and not user_set("image_size", "height", "width"):  # height/width: recipes that keep those keys
        put("image_size", f"{int(size[0])},{int(size[1])}")
    from model_zoo.engine.data import eval_normalization

    current = eval_normalization(cfg)  # '' means the recipe's value: compare what is in effect
    for field, key in PREPROCESS_KEYS.items():
        if field in pre:
            value = pre[field]
            if field in current and (list(current[field]) == list(value) if isinstance(value, list)
                                     else current[field] == value):
                continue
            if isinstance(value, (list, tuple)):
                value = ",".join(f"{float(v):g}" for v in value)
            elif isinstance(cfg.get(key), bool):
                value = bool(value)
            elif isinstance(cfg.get(key), float):
                value = float(value)
            put(key, value)
    # ImageNet-trained weights evaluated from a CIFAR-10 YAML (a recipe's default): read image folders instead
    if pre.get("dataset") in IMAGENET_LAYOUTS and cfg.get("dataset") == "cifar10":
        put("dataset", "imagenet2012")
    return changes


def apply_meta(cfg, meta, recipe_name=None, network_keys=()):
    """Set :func:`meta_options` in ``cfg`` (image_size also sets height/width where the recipe keeps them);
    returns {config key: new value}."""
    changes = meta_options(cfg, meta, recipe_name, network_keys)
    cfg.update(changes)
    if "image_size" in changes and "height" in cfg and "width" in cfg:
        from model_zoo.engine.config import parse_image_size

        cfg.height, cfg.width = parse_image_size(changes["image_size"])
    return changes
