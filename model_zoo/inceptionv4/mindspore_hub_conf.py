"""MindSpore Hub entry of the InceptionV4 recipe, as upstream: ``create_network("inceptionv4", classes=1000, ...)``."""
from model_zoo.inceptionv4.src.inceptionv4 import Inceptionv4


def inceptionv4_net(*args, **kwargs):
    return Inceptionv4(*args, **kwargs)


def create_network(name, *args, **kwargs):
    if name == "inceptionv4":
        return Inceptionv4(*args, **kwargs)
    raise NotImplementedError(f"{name} is not implemented in the repo")
