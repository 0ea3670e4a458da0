"""Where VGG weights come from and how their names map onto the zoo's VGG (``features.N.*``, ``classifier.0/3/6.*``).

* zoo: the zoo's own checkpoints (``.ckpt``).
* upstream MindSpore ModelZoo (``official/cv/VGG/vgg19/src/vgg.py``; training checkpoints and MindSpore Hub
  files): the trunk is ``layers.N.*`` with the zoo's indices, the classifier ``classifier.{0,3,6}.*`` as here.
  Conv biases follow the YAML's ``has_bias`` (False in both upstream YAMLs), BatchNorm its ``batch_norm``.
* torchvision (``features.N``, ``classifier.{0,3,6}``, torch BatchNorm names).
* timm (``features.N``; the head is ``pre_logits.fc1`` (a 7x7 conv, reshaped to the 25088->4096 Dense),
  ``pre_logits.fc2`` (1x1 conv) and ``head.fc``).

The network computes the same in all four (padding 1 or 'same' of a 3x3/1 conv is the same, BatchNorm eps 1e-5
everywhere), so no layout carries numerics.  The shapes tell the variant (conv positions and kernels), BatchNorm,
conv biases, the classes and the input size: the first Dense layer takes ``512 * (H // 32) * (W // 32)`` inputs.
"""
import re

from model_zoo.engine.registry import register_weights
from model_zoo.engine.weights import WeightMaps, torch_layout, upstream_layout, zoo_layout
from model_zoo.vgg19.src.vgg import CONFIGS, VARIANTS

TIMM_HEAD = {"pre_logits.fc1.": "classifier.0.", "pre_logits.fc2.": "classifier.3.", "head.fc.": "classifier.6."}
CONV = re.compile(r"features\.(\d+)\.weight$")


def _signature(config, batch_norm):
    """((features index, kernel size) of every conv, batch norm) of a configuration."""
    convs, index = [], 0
    for item in config:
        if item in ("M", "L"):
            index += 1
            continue
        convs.append((index, item[1] if isinstance(item, tuple) else 3))
        index += 2 + int(batch_norm)  # conv, [BatchNorm], ReLU
    return tuple(convs), bool(batch_norm)


SIGNATURES = {_signature(CONFIGS[config], bn): name for name, (config, bn, _) in VARIANTS.items()}


def _upstream_to_zoo(name):
    if name.startswith("layers."):
        return "features." + name[len("layers."):]
    return name if name.startswith("classifier.") else None


def _zoo_to_upstream(name):
    return "layers." + name[len("features."):] if name.startswith("features.") else name


def _timm_to_zoo(name):
    for old, new in TIMM_HEAD.items():
        if name.startswith(old):
            return new + name[len(old):]
    return name


def _timm_reshape(name, value):
    if name.startswith("classifier.") and len(value.shape) == 4:  # conv head (out, in, kh, kw) -> Dense (out, in*kh*kw)
        return value.reshape(value.shape[0], -1)
    return value


def describe(shapes):
    """Variant, BatchNorm, conv biases, classes and input size of zoo-named VGG shapes."""
    convs = sorted((int(m.group(1)), shape) for name, shape in shapes.items()
                   if (m := CONV.match(name)) and len(shape) == 4)
    batch_norm = any(name.endswith(".moving_mean") for name in shapes)
    options, reasons = {}, {}
    arch = SIGNATURES.get((tuple((index, shape[2]) for index, shape in convs), batch_norm))
    if arch:
        options["arch"], options["batch_norm"] = arch, batch_norm
        reasons["arch"] = f"holds a {arch} network ({len(convs)} convs{', BatchNorm' if batch_norm else ''})"
    if convs:
        index = convs[0][0]
        options["has_bias"] = f"features.{index}.bias" in shapes
        reasons["has_bias"] = "has conv biases" if options["has_bias"] else "has no conv biases"
    head = shapes.get("classifier.6.weight")
    if head and len(head) == 2:
        options["num_classes"] = int(head[0])
        reasons["num_classes"] = f"has {head[0]} classes (classifier.6 is {head[0]}x{head[1]})"
    first = shapes.get("classifier.0.weight")
    if first and len(first) == 2 and first[1] % 512 == 0:
        cells = first[1] // 512
        side = int(round(cells ** 0.5))
        if side * side == cells:
            options["image_size"] = f"{32 * side},{32 * side}"
            reasons["image_size"] = (f"was trained at {32 * side}x{32 * side} (classifier.0 expects "
                                     f"512x{side}x{side})")
        else:
            reasons["image_size"] = (f"was trained at an input of H x W with (H // 32) * (W // 32) = {cells} "
                                     f"(classifier.0 expects 512x{cells}); pass --image_size=H,W")
    return options, reasons


def compatible(key, current, implied):
    """An input size works when it gives the classifier the same number of inputs (same H // 32 and W // 32)."""
    if key != "image_size":
        return False
    from model_zoo.engine.config import parse_image_size
    from model_zoo.engine.errors import ConfigError

    try:
        (h, w), (ih, iw) = parse_image_size(current), parse_image_size(implied)
    except ConfigError:
        return False
    return (h // 32, w // 32) == (ih // 32, iw // 32)


def default_config(options):
    """The upstream YAML a VGG's weights were trained with: 1000 classes ImageNet, else CIFAR-10."""
    return "imagenet2012_config.yaml" if options.get("num_classes") == 1000 else "cifar10_config.yaml"


MAPS = register_weights("vgg19", WeightMaps(
    recipe="vgg19",
    layouts=(zoo_layout("features.", "classifier.6.weight"),
             upstream_layout(("layers.", "classifier.6.weight"), _upstream_to_zoo, _zoo_to_upstream),
             torch_layout("timm", "timm", ("pre_logits.fc1.",), to_zoo=_timm_to_zoo, reshape=_timm_reshape),
             torch_layout("torchvision", "torchvision", ("features.", "classifier.6.weight"))),
    describe=describe,
    network_keys=("has_bias",),
    head=("classifier.6.",),
    compatible=compatible,
    default_config=default_config,
))
