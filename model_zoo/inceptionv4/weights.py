"""Where InceptionV4 weights come from and how their names map onto the zoo's InceptionV4 (timm's layout).

* zoo: the zoo's own checkpoints (``.ckpt``): ``features.0-21.<cell>.{conv.weight, bn.*}``, ``last_linear``,
  and with the upstream head ``head_bn`` and ``logits_bn``.
* upstream MindSpore ModelZoo (``official/cv/Inception/inceptionv4/src/inceptionv4.py``): ``features.0`` is the
  whole stem (``conv2d_1a_3x3``, ``conv2d_2a_3x3``, ``conv2d_2b_3x3``, ``mixed_3a_branch_1``,
  ``mixed_4a_branch_0/1.N``, ``mixed_5a_branch_0``), ``features.1-16`` the blocks (``branch_K[.N]``; InceptionC
  ``branch_1``, ``branch_1_1``, ``branch_1_2``, ``branch_2.N``, ``branch_2_1``, ``branch_2_2``), every conv a
  ``Conv2dBnAct`` (``<cell>.conv.conv.weight``, ``<cell>.conv.batchnorm.*``); the head ``bn0``,
  ``softmax.dense``, ``softmax.batchnorm``.  Numerics: conv BatchNorm eps 1e-5, momentum 0.997.
* timm ``inception_v4`` (the zoo's names with torch BatchNorm names).  Numerics: eps 1e-3, momentum 0.9.

Both compute the 3x3/1 average pools the same way (padding not counted: MindSpore's ``pad_mode='same'`` and timm's
``count_include_pad=False``).  The shapes tell the head and the classes.
"""
import re

from model_zoo.engine.registry import register_weights
from model_zoo.engine.weights import WeightMaps, torch_layout, upstream_layout, zoo_layout

STEM_OFFSET = 5  # upstream features.N (N >= 1) is the zoo's features.N+5
STEM = {"conv2d_1a_3x3": "0", "conv2d_2a_3x3": "1", "conv2d_2b_3x3": "2", "mixed_3a_branch_1": "3.conv",
        "mixed_4a_branch_0": "4.branch0", "mixed_4a_branch_1": "4.branch1", "mixed_5a_branch_0": "5.conv"}
INCEPTION_C = {"branch_0": "branch0", "branch_1": "branch1_0", "branch_1_1": "branch1_1a", "branch_1_2": "branch1_1b",
               "branch_2.0": "branch2_0", "branch_2.1": "branch2_1", "branch_2.2": "branch2_2",
               "branch_2_1": "branch2_3a", "branch_2_2": "branch2_3b", "branch_3.1": "branch3.1"}
C_BLOCKS = (19, 20, 21)  # the zoo's InceptionC indices
HEAD = {"bn0.": "head_bn.", "softmax.dense.": "last_linear.", "softmax.batchnorm.": "logits_bn."}
LEAVES = {"conv.conv.weight": "conv.weight"}
LEAVES.update({f"conv.batchnorm.{leaf}": f"bn.{leaf}" for leaf in ("gamma", "beta", "moving_mean", "moving_variance")})
UPSTREAM = re.compile(r"features\.(\d+)\.(.+?)\.(conv\.conv\.weight|conv\.batchnorm\.\w+)$")
ZOO = re.compile(r"features\.(\d+)\.(?:(.+?)\.)?(conv\.weight|bn\.\w+)$")


def _swap(name, table):
    return next((new + name[len(old):] for old, new in table.items() if name.startswith(old)), None)


def _upstream_to_zoo(name):
    head = _swap(name, HEAD)
    if head:
        return head
    match = UPSTREAM.match(name)
    if not match or match.group(3) not in LEAVES:
        return None
    block, path, leaf = int(match.group(1)), match.group(2), LEAVES[match.group(3)]
    if block == 0:
        base, dot, index = path.partition(".")
        cell = STEM.get(base)
        return f"features.{cell}{dot}{index}.{leaf}" if cell else None
    block += STEM_OFFSET
    if block in C_BLOCKS:
        cell = INCEPTION_C.get(path)
    else:
        branch = re.fullmatch(r"branch_(\d)((?:\.\d+)?)", path)
        cell = f"branch{branch.group(1)}{branch.group(2)}" if branch else None
    return f"features.{block}.{cell}.{leaf}" if cell else None


def _zoo_to_upstream(name):
    head = _swap(name, {new: old for old, new in HEAD.items()})
    if head:
        return head
    match = ZOO.match(name)
    block, path, leaf = int(match.group(1)), match.group(2), match.group(3)
    leaf = next(old for old, new in LEAVES.items() if new == leaf)
    if block <= STEM_OFFSET:
        zoo_cell = f"{block}.{path}" if path else str(block)
        base = next(old for old, new in STEM.items() if zoo_cell == new or zoo_cell.startswith(new + "."))
        return f"features.0.{base}{zoo_cell[len(STEM[base]):]}.{leaf}"
    if block in C_BLOCKS:
        cell = next(old for old, new in INCEPTION_C.items() if new == path)
    else:
        cell = re.sub(r"^branch(\d)", r"branch_\1", path)
    return f"features.{block - STEM_OFFSET}.{cell}.{leaf}"


def describe(shapes):
    """Head and classes of zoo-named InceptionV4 shapes."""
    options, reasons = {"arch": "inception_v4"}, {}
    upstream = any(name.startswith(("head_bn.", "logits_bn.")) for name in shapes)
    options["head"] = "upstream" if upstream else "reference"
    reasons["head"] = ("has the upstream head (head_bn, logits_bn: BN-Dropout-Dense-BN-LogSoftmax)" if upstream
                       else "has the reference head (Dropout-Dense, no head BatchNorms)")
    head = shapes.get("last_linear.weight")
    if head and len(head) == 2:
        options["num_classes"] = int(head[0])
        reasons["num_classes"] = f"has {head[0]} classes (last_linear is {head[0]}x{head[1]})"
    return options, reasons


UPSTREAM_NUMERICS = {"bn_eps": 1e-5, "bn_momentum": 0.997}  # mindspore.nn.Conv2dBnAct's defaults
TIMM_NUMERICS = {"bn_eps": 1e-3, "bn_momentum": 0.9}       # timm's BatchNorm2d(eps=0.001), torch momentum 0.1

MAPS = register_weights("inceptionv4", WeightMaps(
    recipe="inceptionv4",
    layouts=(zoo_layout("features.0.conv.", "last_linear.weight"),
             upstream_layout(("features.0.conv2d_1a_3x3.", "softmax.dense.weight"), _upstream_to_zoo,
                             _zoo_to_upstream, lambda options: dict(UPSTREAM_NUMERICS)),
             torch_layout("timm", "timm", ("features.0.conv.", "last_linear.weight"),
                          numerics=lambda options: dict(TIMM_NUMERICS))),
    describe=describe,
    network_keys=("head", "bn_eps", "bn_momentum"),
    legacy=dict(TIMM_NUMERICS),  # zoo checkpoints written before bn_eps/bn_momentum existed: timm's values
    head=("last_linear.", "logits_bn."),
    default_config=lambda options: "default_config.yaml",
))
