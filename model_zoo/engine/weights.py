"""One way to load weights, used by every tool that takes a checkpoint.

    read the file (any format, :mod:`model_zoo.engine.weight_files`) -> leave out the training bookkeeping
    (optimizer slots, step counters, loss scale) -> recognise its naming layout through the model folders' weight
    maps (the zoo's own names, upstream MindSpore ModelZoo, torchvision, timm) -> map the names onto the zoo
    network's -> derive the network the weights describe (shapes, the layout's numerics, ``zoo_*`` metadata) ->
    configure the run under the command line -> build that network and load the weights strictly, explaining a
    mismatch by its cause (a flag that contradicts the file).

Each model folder declares its maps in its own ``weights.py`` (a :class:`WeightMaps` of :class:`Layout` entries) and
registers them with :func:`model_zoo.engine.registry.register_weights`; this module names no model.
"""
import contextlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import weight_files
from model_zoo.engine.errors import CheckpointError

# optimizer slots of MindSpore's optimizers: '<slot>.<network parameter>'
SLOT_PREFIXES = ("moments.", "moment.", "moment1.", "moment2.", "mean_square.", "mean_grad.", "accum.",
                 "adam_m.", "adam_v.", "accumulation.")
# training wrappers that prefix the network's own names ('network.' of an upstream training wrapper, DataParallel's 'module.')
WRAPPER_PREFIXES = ("network.", "module.", "_backbone.", "model.", "net.")
TORCH_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
TRAIN = "train"


def _same(name):
    return name


@dataclass(frozen=True)
class Layout:
    """One naming scheme of a model's weights.

    name: 'zoo', 'upstream', 'torchvision', 'timm' ...; title: how the notes name it.
    frameworks: the file kinds it comes in ('mindspore': .ckpt; 'torch': .pth/.safetensors, BatchNorm names
        already turned into MindSpore's gamma/beta/moving_mean/moving_variance).
    detect(names) -> bool: the set of (unwrapped, bookkeeping-free) names is in this layout.
    to_zoo(name) -> the zoo network's name, or None for a name this layout does not have.
    from_zoo(name) -> this layout's name of a zoo name (to write files in it), or None.
    reshape(zoo name, array) -> array: value changes (e.g. a conv head reshaped to a Dense), or None.
    numerics(options) -> {config key: value}: how the network these weights were trained in computes where the
        zoo offers a choice (pool padding, BatchNorm eps ...), or None.
    """

    name: str
    title: str
    frameworks: tuple
    detect: Callable
    to_zoo: Callable = _same
    from_zoo: Optional[Callable] = None
    reshape: Optional[Callable] = None
    numerics: Optional[Callable] = None


@dataclass(frozen=True)
class WeightMaps:
    """What a model folder knows about its weights.

    recipe: the recipe name; layouts: its :class:`Layout` entries, tried in order.
    describe(shapes) -> (options, reasons): the config values the zoo-named shapes fix (arch, num_classes,
        has_bias, head, the input size where a Dense layer fixes it ...) and, per key, a clause saying why
        ("was trained at 32x32 (classifier.0 expects 512x1x1)"); a reason without an option says what the file
        needs when no single value follows from it.
    network_keys: the recipe's network options recorded in every checkpoint (``zoo_<key>``).
    legacy: the numerics of zoo checkpoints written before a network key existed.
    head: name prefixes that depend on the number of classes (left out when fine-tuning to other classes).
    compatible(key, current, implied) -> bool: a config value works with the file although it differs.
    default_config(options) -> the recipe YAML whose eval transform the weights' source used.
    """

    recipe: str
    layouts: tuple
    describe: Callable
    network_keys: tuple = ()
    legacy: dict = field(default_factory=dict)
    head: tuple = ()
    compatible: Optional[Callable] = None
    default_config: Optional[Callable] = None

    def layout(self, name):
        return next((layout for layout in self.layouts if layout.name == name), None)

    def fits(self, key, current, implied):
        if str(current) == str(implied) or current == implied:
            return True
        return bool(self.compatible and self.compatible(key, current, implied))


def names_with(prefix, *names):
    """A :attr:`Layout.detect` accepting name sets with a name starting with ``prefix`` and every one of ``names``."""
    return lambda keys: any(k.startswith(prefix) for k in keys) and all(n in keys for n in names)


def zoo_layout(prefix, *names):
    """The zoo's own checkpoints (.ckpt), recognised by :func:`names_with` ``(prefix, *names)``."""
    return Layout("zoo", "model zoo", ("mindspore",), names_with(prefix, *names))


def upstream_layout(detect, to_zoo, from_zoo, numerics=None):
    """Upstream MindSpore ModelZoo checkpoints and MindSpore Hub files (.ckpt); ``detect``: (prefix, *names)."""
    return Layout("upstream", "upstream MindSpore ModelZoo", ("mindspore",), names_with(*detect), to_zoo=to_zoo,
                  from_zoo=from_zoo, numerics=numerics)


def torch_layout(name, title, detect, **kwargs):
    """A PyTorch library's weights (.pth / .safetensors); ``detect``: (prefix, *names); ``kwargs``: the
    :class:`Layout` fields."""
    return Layout(name, title, ("torch",), names_with(*detect), **kwargs)


def network_keys(recipe_name):
    """The network options a recipe records in its checkpoints (``zoo_<key>``)."""
    from model_zoo.engine.registry import weight_maps

    maps = weight_maps(recipe_name)
    return tuple(maps.network_keys) if maps else ()


# ---------------------------------------------------------------------------------------------------------------
# from a file to zoo names
# ---------------------------------------------------------------------------------------------------------------

def split_bookkeeping(tensors):
    """(network tensors, names left out): optimizer slots, step counters, learning rate, loss scale."""
    network, skipped = {}, []
    for name, value in tensors.items():
        if name.startswith(ckpt_io.TRAIN_STATE_PREFIXES + SLOT_PREFIXES) or name.endswith("num_batches_tracked"):
            skipped.append(name)
        else:
            network[name] = value
    names = set(network)
    for name in list(network):  # '<slot>.<name>' of any optimizer whose slot prefix is not listed above
        slot, _, rest = name.partition(".")
        if rest and slot + "." not in WRAPPER_PREFIXES and (
                rest in names or any(p + rest in names for p in WRAPPER_PREFIXES)):
            skipped.append(name)
            del network[name]
    return network, skipped


def strip_wrappers(state):
    """Remove a training wrapper's prefix that every name carries ('network.', 'module.' ...)."""
    for _ in range(3):
        prefix = next((p for p in WRAPPER_PREFIXES if state and all(n.startswith(p) for n in state)), None)
        if prefix is None:
            break
        state = {n[len(prefix):]: v for n, v in state.items()}
    return state


def mindspore_bn_names(state):
    """torch BatchNorm names (weight/bias/running_mean/running_var of a module with running stats) -> MindSpore's."""
    bn = {n[: -len(".running_mean")] for n in state if n.endswith(".running_mean")}
    out = {}
    for name, value in state.items():
        prefix, _, leaf = name.rpartition(".")
        if prefix in bn and leaf in TORCH_BN:
            name = f"{prefix}.{TORCH_BN[leaf]}"
        out[name] = value
    return out


def summary(names):
    """'moments.* (22), global_step, learning_rate' for a list of names."""
    groups = Counter("*.num_batches_tracked" if n.endswith("num_batches_tracked") else
                     n.split(".", 1)[0] + (".*" if "." in n else "") for n in names)
    return ", ".join(f"{g} ({c})" if c > 1 else g for g, c in groups.items())


def recognise(state, framework, recipe_name=None):
    """(maps, layout) of the first layout whose detect() accepts the names (the recipe's own maps first)."""
    from model_zoo.engine.registry import weight_maps

    every = weight_maps()
    order = [every[recipe_name]] if recipe_name in every else []
    order += [maps for name, maps in every.items() if name != recipe_name]
    names = set(state)
    for maps in order:
        for layout in maps.layouts:
            if framework in layout.frameworks and layout.detect(names):
                return maps, layout
    return None, None


@dataclass
class Weights:
    """A weight file mapped onto the zoo network's names, with the network it describes."""

    path: Path
    maps: WeightMaps
    layout: Layout
    params: dict        # zoo name -> MindSpore Parameter or numpy array
    options: dict       # config key -> value the file fixes (shapes, numerics, metadata)
    reasons: dict       # config key -> why
    meta: dict          # the zoo_* entries, decoded
    skipped: list       # training bookkeeping left out
    unknown: list       # names the layout does not map
    numerics: dict      # the options that are the layout's numerics

    @property
    def title(self):
        return self.layout.title

    @property
    def training_state(self):
        """True for a zoo checkpoint that can resume a run (network, optimizer state, epoch and step)."""
        return self.layout.name == "zoo" and "step_num" in self.skipped and ckpt_io.has_optimizer_state(
            dict.fromkeys(self.skipped))

    def layer(self, cfg, task):
        """{config key: value} to put under the command line: the network the file describes and, except for
        training, the preprocessing its metadata records."""
        from model_zoo.engine.config import parse_image_size
        from model_zoo.engine.weights_meta import meta_options

        layer = {k: v for k, v in self.options.items() if k in cfg and not self.maps.fits(k, cfg[k], v)}
        layer.update(meta_options(cfg, self.meta, self.maps.recipe, self.maps.network_keys,
                                  preprocessing=task != TRAIN))
        if "image_size" in layer and "height" in cfg and "width" in cfg:  # recipes that keep height/width
            layer["height"], layer["width"] = parse_image_size(layer["image_size"])
        return layer

    def parameters(self, names=None):
        """{zoo name: MindSpore Parameter} (float32) of every tensor, or of ``names``."""
        import mindspore as ms
        import numpy as np

        out = {}
        for name in (self.params if names is None else names):
            value = self.params[name]
            if isinstance(value, ms.Parameter):
                out[name] = value
            else:
                array = weight_files.as_numpy(value)
                if np.issubdtype(array.dtype, np.floating):
                    array = array.astype(np.float32, copy=False)
                out[name] = ms.Parameter(ms.Tensor(np.ascontiguousarray(array)), name=name)
        return out


def load(path, recipe_name=None, allow_pickle=False, log=print):
    """Read ``path`` and map it onto the zoo's names.  ``recipe_name``: the recipe the caller works with (a file
    of another recipe is refused naming the right one); None recognises any."""
    path = Path(path)
    file = weight_files.read(path, allow_pickle, log)
    meta = ckpt_io.metadata(file.strings) if file.strings else {}
    state, skipped = split_bookkeeping(file.tensors)
    state = mindspore_bn_names(strip_wrappers(state))
    maps, layout = recognise(state, file.framework, recipe_name or meta.get("recipe"))
    if maps is None:
        from model_zoo.engine.registry import weight_maps

        known = sorted({layout.title for maps in weight_maps().values() for layout in maps.layouts})
        raise CheckpointError(f"{path.name}: its tensor names match none of the layouts the zoo knows "
                              f"({', '.join(known)}); first names: {', '.join(sorted(state)[:3]) or 'none'}")
    if recipe_name and maps.recipe != recipe_name:
        raise CheckpointError(f"{path.name} holds {layout.title} weights of the {maps.recipe} recipe, not "
                              f"{recipe_name}: use the scripts of model_zoo/{maps.recipe}/ (or --model {maps.recipe})")
    params, unknown = {}, []
    for name, value in state.items():
        target = layout.to_zoo(name)
        if target is None:
            unknown.append(name)
            continue
        params[target] = layout.reshape(target, value) if layout.reshape else value
    options, reasons = maps.describe({n: weight_files.shape(v) for n, v in params.items()})
    options, reasons = dict(options), dict(reasons)
    numerics = dict(layout.numerics(options)) if layout.numerics else {}
    if layout.name == "zoo" and meta.get("arch"):  # a zoo checkpoint: its record, else what the zoo computed then
        numerics = {k: meta.get(k, maps.legacy[k]) for k in maps.legacy}
    options.update(numerics)
    return Weights(path, maps, layout, params, options, reasons, meta, skipped, unknown, numerics)


# ---------------------------------------------------------------------------------------------------------------
# configuring a run from its weights
# ---------------------------------------------------------------------------------------------------------------

def weights_path(cfg, task):
    """The weights a task starts from: train ``--resume FILE`` or ``--pre_trained``, eval ``--pre_trained`` (a
    folder: its newest checkpoint), export ``--ckpt_file``."""
    if task == TRAIN:
        resume = str(cfg.get("resume") or "")
        value = resume if resume and resume.lower() != "auto" else cfg.get("pre_trained")
    elif task == "export":
        value = cfg.get("ckpt_file")
    else:
        value = cfg.get("pre_trained")
    if not value:
        return None
    path = Path(str(value))
    if path.is_dir():
        files = sorted(path.glob("*.ckpt"))
        return ckpt_io.checkpoints_in(path)[0] if files else None
    return path if path.is_file() else None


def configure(recipe, cfg, task, rebuild, path=None, weights=None, log=print):
    """The configuration for the weights the task starts from: their layer (:meth:`Weights.layer`) goes between
    the YAMLs and the command line (``rebuild(layer)`` resolves the configuration again; without ``rebuild`` the
    keys not given on the command line are set in ``cfg``), with one line saying what it set.  The loaded weights
    travel with the returned config (:func:`attached`)."""
    if weights is None:
        path = path if path is not None else weights_path(cfg, task)
        if path is None or not Path(path).is_file():
            return cfg  # nothing to read (or a missing file: the load reports it)
        weights = load(path, recipe.name, log=log)
    layer = weights.layer(cfg, task)
    new = cfg
    if layer and rebuild is None:
        new = type(cfg)(cfg)
        object.__setattr__(new, "sources", dict(getattr(cfg, "sources", {})))
        object.__setattr__(new, "aliases", dict(getattr(cfg, "aliases", {})))
        for key, value in layer.items():
            if new.sources.get(key) != "command line":
                new[key], new.sources[key] = value, "checkpoint"
    elif layer:
        with contextlib.redirect_stdout(io.StringIO()):  # the recipe's prepare already spoke on the first pass
            new = rebuild(layer)
    announce(weights, cfg, new, layer, log)
    object.__setattr__(new, "weights", weights)
    return new


def attached(cfg, path=None):
    """The :class:`Weights` the configuration was made from (for ``path`` when given), or None."""
    weights = vars(cfg).get("weights") if hasattr(cfg, "__dict__") else None
    if weights is not None and path is not None and Path(path).resolve() != weights.path.resolve():
        return None
    return weights


def announce(weights, before, after, layer, log=print):
    """One line on where the weights come from (not for the zoo's own), one on their numerics, one listing the
    settings they changed."""
    if not log:
        return
    name = weights.path.name
    arch = weights.options.get("arch") or weights.maps.recipe
    if weights.layout.name != "zoo":
        left = (f"; left out {len(weights.skipped)} optimizer/bookkeeping entries: {summary(weights.skipped)}"
                if weights.skipped else "")
        log(f"{name}: {weights.title} weights of {arch}, {len(weights.params)} tensors mapped onto the zoo's names"
            f"{left}")
        if weights.numerics:
            text = ", ".join(f"{k}={v}" for k, v in weights.numerics.items())
            log(f"note: {weights.title} weights are computed with their own numerics: {text} (recorded with "
                f"converted weights; flags on the command line override them)")
    changes = {k: after[k] for k in list(layer) + ["arch"] if k in after and after.get(k) != before.get(k)}
    if changes:
        text = ", ".join(f"{key}={value}" for key, value in changes.items())
        how = "recorded in" if weights.meta else "implied by"
        log(f"using the settings {how} {name}: {text} (flags on the command line override them)")


# ---------------------------------------------------------------------------------------------------------------
# loading into a network
# ---------------------------------------------------------------------------------------------------------------

def conflict(weights, cfg):
    """The clause naming why the file does not fit the configured network, or None: a flag (first those given on
    the command line) that contradicts what the file fixes."""
    if cfg is None:
        return None
    sources = getattr(cfg, "sources", {})
    found, open_reasons = [], []
    for key, reason in weights.reasons.items():
        if key not in cfg:
            continue
        implied = weights.options.get(key)
        if implied is None:
            open_reasons.append(reason)
            continue
        if weights.maps.fits(key, cfg[key], implied):
            continue
        user = sources.get(key) == "command line"
        found.append((not user, reason, key, cfg[key], implied))
    if found:
        not_user, reason, key, current, implied = sorted(found, key=lambda item: item[0])[0]
        if not not_user:
            return f"{reason}, but --{key}={current} was given: pass --{key}={implied} or leave it out"
        return f"{reason}: pass --{key}={implied}"
    return open_reasons[0] if open_reasons else None


def mismatch(own, params):
    """(missing, unexpected, wrong shapes) of zoo-named ``params`` against a network's {name: shape}."""
    missing = [n for n in own if n not in params]
    unexpected = [n for n in params if n not in own]
    wrong = [(n, weight_files.shape(params[n]), own[n]) for n in own
             if n in params and weight_files.shape(params[n]) != own[n]]
    return missing, unexpected, wrong


def describe_mismatch(missing, unexpected, wrong):
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) e.g. {', '.join(unexpected[:3])}")
    if wrong:
        name, got, want = wrong[0]
        more = f" (and {len(wrong) - 1} more shape mismatches)" if len(wrong) > 1 else ""
        parts.append(f"{name} has shape {got}, expected {want}{more}")
    return "; ".join(parts)


def load_into(net, weights, cfg=None, what="checkpoint", fine_tune=False, log=print):
    """Load ``weights`` into ``net`` strictly (:func:`verify`)."""
    import mindspore as ms

    names = verify(net, weights, cfg, what, fine_tune, log)
    ms.load_param_into_net(net, weights.parameters(names), strict_load=len(names) == len(weights.params))
    return net


def verify(net, weights, cfg=None, what="checkpoint", fine_tune=False, log=print):
    """The names of ``weights`` that load into ``net``: all of them, or a one-line error naming the cause of a
    mismatch when a flag contradicts the file.  ``fine_tune``: a head for another number of classes
    (``--num_classes`` given) starts fresh, with a note, and is left out."""
    own = {p.name: tuple(int(v) for v in p.shape) for p in net.get_parameters()}
    params = weights.params
    missing, unexpected, wrong = mismatch(own, params)
    unexpected += [f"{n} (not a {weights.title} name)" for n in weights.unknown]
    label = f"{what} {weights.path.name}".strip()
    if missing or unexpected or wrong:
        head = weights.maps.head
        only_head = all(n.startswith(head) for n in missing + [w[0] for w in wrong]) and not unexpected and head
        user_classes = cfg is not None and getattr(cfg, "sources", {}).get("num_classes") == "command line"
        if fine_tune and only_head and user_classes:
            log(f"note: {label} has {weights.options.get('num_classes')} classes and this run {cfg.num_classes}: "
                f"its head ({', '.join(sorted({n.rsplit('.', 1)[0] for n in missing + [w[0] for w in wrong]}))}) "
                f"is not loaded and starts from its initial weights")
            skip = set(missing) | {w[0] for w in wrong}
            return [n for n in own if n not in skip]
        cause = conflict(weights, cfg)
        if cause:
            raise CheckpointError(f"{label} {cause}")
        hint = ("; the names are this architecture's but not all of its tensors are there (truncated or edited?)"
                if not wrong and weights.options.get("arch") else "; check --arch/--num_classes")
        raise CheckpointError(f"{label} does not fit this network: {describe_mismatch(missing, unexpected, wrong)}"
                              f"{hint}")
    return list(own)


def for_path(recipe, cfg, path, log=print):
    """The weights of ``path``: those the configuration was made from, else read now."""
    return attached(cfg, path) or load(path, recipe.name, log=log)


def network(recipe, cfg, phase, path_or_weights, what="checkpoint", fine_tune=False, log=print):
    """The recipe's network for ``cfg`` with the weights of ``path_or_weights`` (a path or :class:`Weights`)."""
    weights = path_or_weights if isinstance(path_or_weights, Weights) else for_path(recipe, cfg, path_or_weights, log)
    net = recipe.network(cfg, phase)
    load_into(net, weights, cfg, what=what, fine_tune=fine_tune, log=log)
    return net


def into(net, recipe, cfg, path, what="checkpoint", fine_tune=False, log=print):
    """Load the weights of ``path`` into an existing network of the recipe."""
    return load_into(net, for_path(recipe, cfg, path, log), cfg, what=what, fine_tune=fine_tune, log=log)


# ---------------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------------

def checkpoint_metadata(recipe_name, cfg, classes, preprocess, source=None):
    """The ``zoo_*`` entries of a checkpoint: arch, recipe, class names, inference preprocessing, the recipe's
    network options and (converted weights) where they came from."""
    meta = {"zoo_arch": str(cfg.get("arch") or recipe_name), "zoo_recipe": recipe_name,
            "zoo_classes": json.dumps(list(classes)), "zoo_preprocess": json.dumps(preprocess)}
    meta.update({f"zoo_{key}": json.dumps(cfg[key]) for key in network_keys(recipe_name) if key in cfg})
    if source:
        meta["zoo_source"] = json.dumps(source)
    return meta


def save(weights, path, layout="zoo", order=None, append_dict=None):
    """Write ``weights`` (zoo names; ``order``: the names in network order) as a checkpoint in ``layout``."""
    import mindspore as ms

    target = weights.maps.layout(layout)
    if target is None or (layout != "zoo" and target.from_zoo is None):
        raise CheckpointError(f"the {weights.maps.recipe} recipe cannot write the {layout!r} layout")
    rename = _same if layout == "zoo" else target.from_zoo
    params = weights.parameters()
    entries = [{"name": rename(name), "data": ms.Tensor(params[name].asnumpy())} for name in (order or params)]
    return ckpt_io.save(entries, path, append_dict=append_dict if layout == "zoo" else None)
