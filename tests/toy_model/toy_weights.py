"""How the toy's checkpoints are recognised: the zoo's own names only (no upstream or torchvision layouts), and the
network options their shapes fix."""
from model_zoo.engine.registry import register_weights
from model_zoo.engine.weights import WeightMaps, zoo_layout


def describe(shapes):
    """{config key: value} and {config key: why} that zoo-named toy shapes fix: the classes and the width."""
    options, reasons = {}, {}
    head, first = shapes.get("classifier.weight"), shapes.get("features.0.weight")
    if head and len(head) == 2:
        options["num_classes"] = int(head[0])
        reasons["num_classes"] = f"has {head[0]} classes (classifier is {head[0]}x{head[1]})"
    if first:
        options["width"] = int(first[0])
        reasons["width"] = f"has width {first[0]} (features.0 has {first[0]} filters)"
    return options, reasons


MAPS = register_weights("toy", WeightMaps(
    recipe="toy", layouts=(zoo_layout("features.0.", "classifier.weight"),), describe=describe,
    network_keys=("width",), head=("classifier.",)))
