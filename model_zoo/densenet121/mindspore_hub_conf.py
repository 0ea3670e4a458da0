"""MindSpore Hub entry of the DenseNet recipe, as upstream: ``create_network("densenet121" | "densenet100", ...)``."""
from model_zoo.densenet121.src.densenet import DenseNet100, DenseNet121


def create_network(name, *args, **kwargs):
    if name == "densenet121":
        return DenseNet121(*args, **kwargs)
    if name == "densenet100":
        return DenseNet100(*args, **kwargs)
    raise NotImplementedError(f"{name} is not implemented in the repo")
