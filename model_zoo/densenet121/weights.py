"""Where DenseNet weights come from and how their names map onto the zoo's DenseNet (torchvision's layout).

* zoo: the zoo's own checkpoints (``.ckpt``): ``features.conv0``, ``features.denseblockK.denselayerN.*``,
  ``features.transitionK.{norm,conv}``, ``features.norm5``, ``classifier``.
* upstream MindSpore ModelZoo (``research/cv/densenet/src/network/densenet.py``; DenseNet121 and DenseNet100,
  training checkpoints prefix them with ``network.``): ``backbone.features.conv0``,
  ``backbone.features.denseblockK.cell_list.<N-1>.*``, ``backbone.features.transitionK.features.{norm,conv}``,
  ``backbone.features.norm5``, ``head.fc``.  Numerics: max-pool transitions (DenseNet121; DenseNet100 averages)
  and the stem max-pool with ``pad_mode='same'`` (``stem_pool='same'``).
* torchvision and timm (the zoo's names with torch BatchNorm names; pre-0.3 torchvision files spell
  ``norm.1`` / ``conv.2``).  Numerics: average-pool transitions, symmetric stem padding.

The shapes tell the variant (dense layers per block) and the classes.
"""
import re

from model_zoo.engine.registry import register_weights
from model_zoo.engine.weights import WeightMaps, torch_layout, upstream_layout, zoo_layout

BLOCKS = {(6, 12, 24, 16): "densenet121", (6, 12, 36, 24): "densenet161", (6, 12, 32, 32): "densenet169",
          (6, 12, 48, 32): "densenet201", (16, 16, 16): "densenet100"}
LAYER = re.compile(r"features\.denseblock(\d+)\.denselayer(\d+)\.")
# torchvision's densenet._load_state_dict pattern for pre-0.3 checkpoints ('norm.1.weight' -> 'norm1.weight')
OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$")


def _upstream_to_zoo(name):
    if name.startswith("head.fc."):
        return "classifier." + name[len("head.fc."):]
    if not name.startswith("backbone.features."):
        return None
    name = name[len("backbone."):]
    name = re.sub(r"^features\.(denseblock\d+)\.cell_list\.(\d+)\.",
                  lambda m: f"features.{m.group(1)}.denselayer{int(m.group(2)) + 1}.", name)
    return re.sub(r"^features\.(transition\d+)\.features\.", r"features.\1.", name)


def _zoo_to_upstream(name):
    if name.startswith("classifier."):
        return "head.fc." + name[len("classifier."):]
    name = re.sub(r"^features\.(denseblock\d+)\.denselayer(\d+)\.",
                  lambda m: f"features.{m.group(1)}.cell_list.{int(m.group(2)) - 1}.", name)
    return "backbone." + re.sub(r"^features\.(transition\d+)\.", r"features.\1.features.", name)


def _torchvision_to_zoo(name):
    match = OLD_KEY.match(name)
    return match.group(1) + match.group(2) if match else name


def describe(shapes):
    """Variant and classes of zoo-named DenseNet shapes."""
    layers = {}
    for name in shapes:
        match = LAYER.match(name)
        if match:
            block, layer = int(match.group(1)), int(match.group(2))
            layers[block] = max(layers.get(block, 0), layer)
    options, reasons = {}, {}
    counts = tuple(layers[b] for b in sorted(layers))
    if counts in BLOCKS:
        options["arch"] = BLOCKS[counts]
        reasons["arch"] = f"holds a {BLOCKS[counts]} network (dense blocks of {'/'.join(map(str, counts))} layers)"
    head = shapes.get("classifier.weight")
    if head and len(head) == 2:
        options["num_classes"] = int(head[0])
        reasons["num_classes"] = f"has {head[0]} classes (classifier is {head[0]}x{head[1]})"
    return options, reasons


def upstream_numerics(options):
    """The upstream network: max-pool transitions in DenseNet121 (and the other ImageNet variants), average in
    DenseNet100; the ImageNet stem max-pool pads as TensorFlow's SAME."""
    if options.get("arch") == "densenet100":
        return {"transition_pool": "avg"}
    return {"transition_pool": "max", "stem_pool": "same"}


def reference_numerics(options):
    """torchvision / timm: average-pool transitions, symmetric stem padding."""
    return {"transition_pool": "avg", "stem_pool": "symmetric"}


def default_config(options):
    return "densenet100_config.yaml" if options.get("arch") == "densenet100" else "densenet121_config.yaml"


MAPS = register_weights("densenet121", WeightMaps(
    recipe="densenet121",
    layouts=(zoo_layout("features.conv0.", "classifier.weight"),
             upstream_layout(("backbone.features.conv0.", "head.fc.weight"), _upstream_to_zoo, _zoo_to_upstream,
                             upstream_numerics),
             torch_layout("torchvision", "torchvision/timm", ("features.conv0.", "classifier.weight"),
                          to_zoo=_torchvision_to_zoo, numerics=reference_numerics)),
    describe=describe,
    network_keys=("transition_pool", "stem_pool"),
    legacy={"stem_pool": "symmetric"},  # zoo checkpoints written before stem_pool existed: torchvision's padding
    head=("classifier.",),
    default_config=default_config,
))
