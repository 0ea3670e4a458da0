"""Registries: network builders (``create_model(arch)``), training recipes (``get_recipe(name)``), weight maps.

Model folders register themselves when imported; the engine finds them with :func:`discover`, which imports every
sub-package of ``model_zoo`` other than the engine.  The engine never names a model folder.
"""
import fnmatch
import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from model_zoo.engine.errors import ConfigError

_MODELS = {}
_ALIASES = {}
_RECIPES = {}
_WEIGHTS = {}
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
    return finish_network(model_spec(name).builder(**kwargs))


def finish_network(net):
    """What the device's kernels do once a whole network is built: with the fast CPU kernels on, each batch norm
    whose output only feeds a ReLU applies it (:func:`model_zoo.engine.kernels.fastconv.fuse`)."""
    fast = sys.modules.get("model_zoo.engine.kernels.fastconv")
    if fast is not None and fast.enabled():
        fast.fuse(net)
    return net


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
    Optional:
        prepare(cfg, task)                           normalises model-specific keys after the config is resolved
        config_for(cfg, dataset) -> YAML name|None   without --config_path: the YAML for the data set asked for
                                                     (None: not known), see :func:`model_zoo.engine.cli.recipe_config`
        dense_network(cfg, net) -> nn.Cell           the fully convolutional form of a network (eval_mode dense)
        infer_lines(cfg, counts) -> list             extra lines of the 310 postprocess (upstream acc.log)
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
    config_for: Optional[Callable] = None
    dense_network: Optional[Callable] = None
    infer_lines: Optional[Callable] = None

    def __post_init__(self):
        builder = self.network

        def network(cfg, phase):
            return finish_network(builder(cfg, phase))
        network.__wrapped__ = builder
        self.network = network

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


def register_weights(recipe_name, maps):
    """Declare what a model folder knows about its weights (its name maps, see :mod:`model_zoo.engine.weights`)."""
    _WEIGHTS[recipe_name] = maps
    return maps


def weight_maps(recipe_name=None):
    """The weight maps of one recipe (None when it has none), or {recipe: maps} of every recipe."""
    discover()
    if recipe_name is None:
        return dict(_WEIGHTS)
    return _WEIGHTS.get(recipe_name)


def discover():
    """Import every model package under ``model_zoo`` (they register themselves)."""
    if _DISCOVERED["done"]:
        return
    _DISCOVERED["done"] = True
    import model_zoo

    for info in pkgutil.iter_modules(model_zoo.__path__):
        if info.ispkg and info.name != "engine":
            importlib.import_module(f"model_zoo.{info.name}")


# ---------------------------------------------------------------------------------------------------------------
# launcher script forms: what a model's scripts/run_*.sh take, as its upstream README shows them
# ---------------------------------------------------------------------------------------------------------------
#
# A model folder declares them in a light ``script_forms.py`` (no MindSpore import: the launcher reads it for every
# script call) that calls :func:`register_scripts`.  Script names it does not declare take the shared generic forms
# of :mod:`model_zoo.engine.launcher`.

ARG_KINDS = ("data", "ckpt", "rank_table", "nproc", "device_id", "visible_devices", "device", "config", "flag")
_SCRIPT_FORMS = {}
_SCRIPT_FORMS_LOADED = set()


@dataclass(frozen=True)
class ScriptArg:
    """One positional argument of a launcher script and what it sets.

    kind:
        data             the data folder (launcher ``--data``; train.py/eval.py ``--data_dir``)
        ckpt             a checkpoint (``--ckpt``; ``--pre_trained``)
        rank_table       an hccl rank table file (``--rank_table``)
        nproc            the number of processes (``--nproc``)
        device_id        the first device id (``--device_start``)
        visible_devices  comma-separated device ids (``--visible_devices``: the device's visible-devices variable)
        device           the device (``--device``: CPU, GPU, Ascend)
        config           a YAML (``--config_path``); with ``config`` set, the value is a name: the YAML is
                         ``config.format(value)`` (a str) or ``config[value]`` (a dict), and ``flag`` gets the value
        flag             a train.py / eval.py flag: ``--<flag>=VALUE``
    choices: the values accepted (empty: any).  optional: trailing arguments that may be left out.
    default: what an optional argument left out stands for (empty: nothing).
    """

    name: str
    kind: str
    flag: str = ""
    choices: tuple = ()
    config: object = None
    optional: bool = False
    default: str = ""

    def __post_init__(self):
        if self.kind not in ARG_KINDS:
            raise ValueError(f"ScriptArg {self.name}: kind {self.kind!r} is not one of {', '.join(ARG_KINDS)}")
        if self.default and not self.optional:
            raise ValueError(f"ScriptArg {self.name}: only an optional argument has a default")


@dataclass(frozen=True)
class ScriptForm:
    """One launcher script: task, device (None: an argument of kind 'device' gives it), launcher (None: the
    device's preference, 'single' for one process), its positional arguments (required ones first) and, optionally,
    where its logs go as upstream: ``log`` (one process / mpirun / msrun: a file relative to the working folder),
    ``rank_dir`` (rank table: the per-rank folder, ``{i}`` the local index), ``rank_log`` (the log file in it)
    and ``taskset`` (rank table: bind cores as upstream).  ``legacy``: older upstream forms of the same script
    (e.g. from an older README), tried in order when the arguments do not fit this one."""

    task: str
    device: Optional[str] = None
    launcher: Optional[str] = None
    args: tuple = ()
    log: str = ""
    rank_dir: str = ""
    rank_log: str = ""
    taskset: bool = True
    legacy: tuple = ()

    @property
    def required(self):
        return tuple(a.name for a in self.args if not a.optional)

    @property
    def optional(self):
        return tuple(a.name for a in self.args if a.optional)

    def usage(self, script):
        return " ".join([f"usage: bash scripts/{script}", self.arguments(), "[--key=value ...]"])

    def arguments(self):
        return " ".join(a.name if not a.optional else f"[{a.name}]" for a in self.args)


def register_scripts(model, forms):
    """Declare model folder ``model``'s script forms: ``{'run_distribute_train': ScriptForm(...), ...}``."""
    _SCRIPT_FORMS.setdefault(model, {}).update(forms)
    return forms


def script_forms(model):
    """The script forms model folder ``model`` declares (loads its ``script_forms.py`` alone, without the model
    package and so without MindSpore)."""
    if model not in _SCRIPT_FORMS_LOADED:
        _SCRIPT_FORMS_LOADED.add(model)
        path = Path(__file__).resolve().parents[1] / str(model) / "script_forms.py"
        name = f"model_zoo.{model}.script_forms"
        if path.is_file() and name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return dict(_SCRIPT_FORMS.get(model, {}))
