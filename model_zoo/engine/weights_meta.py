"""Let a checkpoint's ``zoo_*`` entries configure its evaluation, so a user need not know how its weights were made.

A zoo checkpoint (trained here, or converted from timm / torchvision by ``python -m model_zoo.convert``) records
its arch, class names, the inference preprocessing its weights expect (``zoo_preprocess``) and, for converted
weights, the network options that differ from the recipe YAML (``zoo_transition_pool``, ``zoo_head``,
``zoo_has_bias``).  :func:`apply_checkpoint_meta` copies them into the resolved config; a key the user set on the
command line always wins.
"""
from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import CheckpointError

# zoo_preprocess field -> config key
PREPROCESS_KEYS = {"resize_ratio": "eval_resize_ratio", "keep_aspect": "eval_keep_aspect",
                   "interpolation": "eval_interpolation", "mean": "eval_mean", "std": "eval_std"}
# zoo_<name> entries that are network options of some recipe (applied where the recipe has that key)
NETWORK_KEYS = ("transition_pool", "head", "has_bias")
IMAGENET_LAYOUTS = ("imagenet2012", "imagenet")


def read_meta(path):
    """The ``zoo_*`` entries of a checkpoint file, or {} when it has none or cannot be read (the weight load
    that follows reports an unreadable file)."""
    import mindspore as ms

    try:
        params = ms.load_checkpoint(str(path), crc_check=True, choice_func=lambda name: name.startswith("zoo_"))
    except Exception:  # noqa: BLE001 - any unreadable file: the weight load after this names the problem
        return {}
    return ckpt_io.metadata(params)


def apply_meta(cfg, meta, recipe_name=None):
    """Copy checkpoint metadata (as :func:`model_zoo.engine.checkpoint.metadata` returns it) into ``cfg`` where the
    command line is silent; returns {config key: new value} of what changed."""
    if not meta:
        return {}
    if recipe_name and meta.get("recipe") and meta["recipe"] != recipe_name:
        raise CheckpointError(f"the checkpoint holds a {meta.get('arch', '?')} network of the {meta['recipe']} recipe; "
                              f"evaluate it with model_zoo/{meta['recipe']}/eval.py")
    sources = getattr(cfg, "sources", {})

    def user_set(*keys):
        return any(sources.get(key) == "command line" for key in keys)

    changes = {}

    def put(key, value):
        if key in cfg and not user_set(key) and cfg[key] != value:
            cfg[key] = value
            changes[key] = value

    if meta.get("arch") and "arch" in cfg:
        put("arch", str(meta["arch"]))
    if isinstance(meta.get("classes"), list) and meta["classes"]:
        put("num_classes", len(meta["classes"]))
    for key in NETWORK_KEYS:
        if key in meta:
            put(key, meta[key])
    pre = meta.get("preprocess") or {}
    size = pre.get("image_size")
    if size and not user_set("image_size", "height", "width"):  # height/width: recipes that keep those keys
        put("image_size", f"{int(size[0])},{int(size[1])}")
        if "height" in cfg and "width" in cfg and "image_size" in changes:
            cfg.height, cfg.width = int(size[0]), int(size[1])
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
    # ImageNet-trained weights evaluated from a CIFAR-10 YAML (VGG's default config): read image folders instead
    if pre.get("dataset") in IMAGENET_LAYOUTS and cfg.get("dataset") == "cifar10":
        put("dataset", "imagenet2012")
    return changes


def apply_checkpoint_meta(cfg, path, recipe_name=None, log=print):
    """Configure ``cfg`` from the ``zoo_*`` entries of ``path`` (a checkpoint, or a folder: its newest one).

    Sets arch, num_classes, image_size, eval_resize_ratio, eval_keep_aspect, eval_interpolation, eval_mean,
    eval_std, transition_pool / head / has_bias (where the recipe has them) and, for ImageNet weights read through
    a CIFAR-10 YAML, dataset - each unless given on the command line.  Prints one line saying what it set."""
    if not path:
        return {}
    first = ckpt_io.checkpoints_in(path)[0]
    changes = apply_meta(cfg, read_meta(first), recipe_name)
    if changes and log:
        text = ", ".join(f"{key}={value}" for key, value in changes.items())
        log(f"using the settings recorded in {first.name}: {text} (flags on the command line override them)")
    return changes
