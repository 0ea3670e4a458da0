"""Registries: network builders (``create_model('vgg16_bn')``) and training recipes (``get_recipe('vgg19')``).

Model folders register themselves when imported; the engine finds them with :func:`discover`, which imports every
sub-package of ``model_zoo`` other than the engine.  The engine never names a model folder.
"""
import fnmatch
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from model_zoo.engine.errors import ConfigError

_MODELS = {}
_ALIASES = {}
_RECIPES = {}
_DISCOVERED = {"done": False}


@dataclass(frozen=True)
class PretrainedCfg:
    """Preprocessing that travels with a network's weights (as timm's pretrained_cfg)."""

    input_size: tuple = (3, 224, 224)
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    num_classes: int = 1000


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    recipe: str
    pretrained_cfg: PretrainedCfg = PretrainedCfg()
    description: str = ""


def register_model(name, builder, recipe, pretrained_cfg=None, description="", aliases=()):
    spec = ModelSpec(name, builder, recipe, pretrained_cfg or PretrainedCfg(), description)
    _MODELS[name] = spec
    for alias in aliases:
        _ALIASES[alias] = name
    return spec


def model_spec(name):
    discover()
    key = _ALIASES.get(name, name)
    if key not in _MODELS:
        import difflib

        close = difflib.get_close_matches(str(name), list(_MODELS) + list(_ALIASES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose one of {', '.join(sorted(_MODELS))}"
        raise ConfigError(f"unknown architecture {name!r}{hint}")
    return _MODELS[key]


def create_model(name, **kwargs):
    """Build a registered network by name (``num_classes=``, ``image_size=`` ... go to its builder)."""
    return model_spec(name).builder(**kwargs)


def list_models(pattern="*", recipe=None):
    discover()
    return sorted(n for n, s in _MODELS.items() if fnmatch.fnmatch(n, pattern) and (recipe is None or s.recipe == recipe))


@dataclass
class Recipe:
    """One upstream recipe: its folder, YAMLs, key aliases and the model-owned builders the engine calls.

    Builders (all take the resolved config ``cfg``):
        network(cfg, phase) -> nn.Cell                phase is 'train' or 'test'
        dataset(cfg, training, rank, group_size) -> mindspore dataset
        lr(cfg, steps_per_epoch) -> per-step numpy array
        loss(cfg) -> loss Cell
        optimizer(cfg, net, lr) -> optimizer
        epoch_lines(cfg, stats) -> list of log lines printed at each epoch end
        eval_lines(cfg, counts) -> list of log lines printed after evaluation
    """

    name: str
    folder: Path
    default_config: str
    network: Callable
    dataset: Callable
    lr: Callable
    loss: Callable
    optimizer: Callable
    epoch_lines: Callable
    eval_lines: Callable
    aliases: dict = field(default_factory=dict)
    description: str = ""
    prepare: Optional[Callable] = None

    def yaml_paths(self):
        return sorted(Path(self.folder).glob("*config*.yaml"))

    def default_config_path(self):
        return Path(self.folder) / self.default_config


def register_recipe(recipe):
    _RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name):
    discover()
    if name not in _RECIPES:
        import difflib

        close = difflib.get_close_matches(str(name), list(_RECIPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; choose one of {', '.join(sorted(_RECIPES))}")
    return _RECIPES[name]


def list_recipes():
    discover()
    return sorted(_RECIPES)


def discover():
    """Import every model package under ``model_zoo`` (they register themselves)."""
    if _DISCOVERED["done"]:
        return
    _DISCOVERED["done"] = True
    import model_zoo

    for info in pkgutil.iter_modules(model_zoo.__path__):
        if info.ispkg and info.name != "engine":
            importlib.import_module(f"model_zoo.{info.name}")
