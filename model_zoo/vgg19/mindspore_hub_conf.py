"""MindSpore Hub entry of the VGG19 recipe, as upstream: ``create_network("vgg19", num_classes=1000, ...)``."""
from types import SimpleNamespace

from model_zoo.engine.config import read_yaml
from model_zoo.vgg19.recipe import FOLDER
from model_zoo.vgg19.src.vgg import vgg19


def vgg19_net(*args, **kwargs):
    """VGG19 with the values of imagenet2012_config.yaml (or ``args=`` your own config)."""
    kwargs.setdefault("args", SimpleNamespace(**read_yaml(FOLDER / "imagenet2012_config.yaml")[0]))
    return vgg19(*args, **kwargs)


def create_network(name, *args, **kwargs):
    if name == "vgg19":
        return vgg19_net(*args, **kwargs)
    raise NotImplementedError(f"{name} is not implemented in the repo")
