"""Entry points behind every ``train.py`` / ``eval.py`` / ``export.py``: config, one-line errors, exit codes."""
import os
import sys
from pathlib import Path

from model_zoo.engine.console import note, say
from model_zoo.engine.errors import ZooError

TASKS = ("train", "eval", "export")


def _debug_requested(argv):
    return os.environ.get("MODEL_ZOO_DEBUG") == "1" or any(
        a == "--debug" or a.lower() in ("--debug=true", "--debug=1") for a in argv)


def config_builder(recipe, task, argv):
    """``build(layer=None) -> cfg``: the task's configuration (with a checkpoint's layer under the command line),
    normalised by the recipe's ``prepare`` hook.  Without ``--config_path`` the data picks the YAML
    (:func:`recipe_config`).  Keys the zoo ignores that the user set get one warning line each (the first build)."""
    from model_zoo.engine.config import ConfigSchema, ignored_lines

    schema = ConfigSchema(recipe.yaml_paths(), recipe.aliases)

    def build(layer=None):
        cfg = recipe_config(recipe, schema, argv, announce=layer is None, prog=f"{task}.py",
                            description=f"{recipe.name} {task} ({recipe.description})", weights_layer=layer)
        if layer is None:
            say(*ignored_lines(schema, cfg, task))
        if recipe.prepare is not None:
            recipe.prepare(cfg, task)
        return cfg

    return build


def resolve(task, recipe_name, argv):
    """(recipe, cfg) for a task; the weights the task starts from (``--pre_trained``, ``--resume FILE``,
    ``--ckpt_file``) configure the network they describe (:mod:`model_zoo.engine.weights`)."""
    from model_zoo.engine import weights
    from model_zoo.engine.registry import get_recipe

    recipe = get_recipe(recipe_name)
    build = config_builder(recipe, task, argv)
    return recipe, weights.configure(recipe, build(), task, build)


def wanted_dataset(cfg):
    """(dataset, why) the user asked for: ``--dataset`` (or its alias), else the layout of the data folder or label
    file named on the command line; (None, '') when neither says."""
    from model_zoo.engine import data

    if cfg.sources.get("dataset") == "command line":
        return cfg.dataset, f"--dataset={cfg.dataset}"
    for key in ("data_dir", "data_path", "eval_data_dir"):
        if cfg.sources.get(key) == "command line" and cfg.get(key):
            found = data.detect_layout(cfg[key])
            if found:
                return found, f"the {found} layout of {cfg[key]}"
    label = str(cfg.get("label_dir") or "") if cfg.sources.get("label_dir") == "command line" else ""
    if label:
        found = "cifar10" if label.endswith(".npy") else "imagenet2012"
        return found, f"the label file {label}"
    return None, ""


def recipe_config(recipe, schema, argv, announce=True, **kwargs):
    """The recipe's configuration for ``argv`` (``kwargs`` go to ``load_config``).  Without ``--config_path`` the
    data picks the YAML: the recipe's ``config_for(cfg, dataset)`` names the YAML of the data set asked for
    (``--dataset``, or the layout of the data given), and a data set with a fixed class count (CIFAR-10/100, MNIST)
    sets ``num_classes`` unless it is given.  ``announce``: print the one line saying what was chosen."""
    from model_zoo.engine.config import load_config
    from model_zoo.engine.data import FIXED_DATASETS

    kwargs.setdefault("config_dirs", [recipe.folder])
    cfg = load_config(schema, argv, recipe.default_config_path(), **kwargs)
    if cfg.sources.get("config_path") == "command line":
        return cfg
    dataset, why = wanted_dataset(cfg)
    name = recipe.config_for(cfg, dataset) if recipe.config_for is not None else None
    chosen = []
    if name and Path(cfg.config_path).name != name:
        cfg = load_config(schema, argv, Path(recipe.folder) / name, **kwargs)
        chosen.append(f"{name}")
    same = {"imagenet": "imagenet2012"}
    if dataset is not None and cfg.sources.get("dataset") != "command line" and \
            same.get(cfg.get("dataset"), cfg.get("dataset")) != same.get(dataset, dataset):
        cfg.dataset = dataset
        cfg.sources["dataset"] = why
        chosen.append(f"dataset={dataset}")
    classes = FIXED_DATASETS.get(dataset, (None,))[0]
    if classes and cfg.sources.get("num_classes") != "command line" and int(cfg.num_classes) != classes:
        cfg.num_classes = classes
        cfg.sources["num_classes"] = why
        chosen.append(f"num_classes={classes}")
    if chosen and announce:
        say(f"no --config_path: {', '.join(chosen)} (from {why or 'the flags given'})")
    return cfg


def export_task(recipe, cfg):
    from model_zoo.engine import checkpoint as ckpt_io
    from model_zoo.engine import weights
    from model_zoo.engine.config import parse_image_size
    from model_zoo.engine.device import get_backend
    from model_zoo.engine.errors import ConfigError
    from model_zoo.engine.exporter import export_network

    backend = get_backend(cfg.device_target)
    backend.check_export_format(cfg.file_format)
    backend.setup_context(cfg.mode, cfg.device_id, cfg.get("jit_level", ""))
    if not cfg.ckpt_file:
        raise ConfigError(f"export needs weights: pass {cfg.flag('ckpt_file')} PATH.ckpt")
    loaded = weights.for_path(recipe, cfg, cfg.ckpt_file)
    # before the export: a read-only or full folder is named with its cause (MindSpore only logs it)
    target = Path(str(cfg.file_name)).expanduser().absolute().parent
    size = sum(int(v.nbytes) for v in loaded.params.values() if hasattr(v, "nbytes"))
    ckpt_io.check_room(target, int(1.1 * size) + (1 << 20), cfg.flag("file_name"), "the exported model needs")
    height, width = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size)
    fp16 = bool(cfg.get("export_fp16", False))
    result = export_network(lambda: weights.network(recipe, cfg, "test", loaded), None, cfg.file_name,
                            cfg.file_format, (max(batch, 1), 3, height, width), backend, float(cfg.export_tolerance),
                            dynamic_batch=batch <= 0, fp16=fp16)
    diff = result["max_abs_diff"]
    check = "not checked" if diff is None else f"{diff:.3g} (max |output| {result['output_scale']:.3g})"
    precision = ", float16 compute and output" if fp16 else ""
    say(f"exported {result['file']} ({result['format']}{precision}, input {max(batch, 1)}x3x{height}x{width}); "
        f"max abs diff vs {'float16 ' if fp16 else ''}network: {check}")
    if fp16 and result.get("fp16_vs_fp32") is not None:
        say(f"float16 vs the float32 network: max abs diff {result['fp16_vs_fp32']:.3g}; results of this graph are "
            f"float16: read them with postprocess --result_dtype float16")
    return result


def command_line(recipe, task, argv):
    """The script and flags that run this task as a user would type them: the process's own command line, or, when
    Python code (the demo) called :func:`run` with other flags, the model folder's ``<task>.py`` with them."""
    argv = [str(arg) for arg in argv]
    if argv == sys.argv[1:]:
        return [sys.argv[0] or f"{task}.py"] + argv
    return [str(Path(recipe.folder) / f"{task}.py")] + argv


def run(task, recipe_name, argv):
    from model_zoo.engine import evaluate, modelarts, trainer, weights

    recipe, cfg = resolve(task, recipe_name, argv)
    modelarts.pre_process(cfg)
    if cfg.get("enable_modelarts") and weights.attached(cfg) is None:  # the weights have just been synced here
        cfg = weights.configure(recipe, cfg, task, rebuild=None)
    object.__setattr__(cfg, "command", command_line(recipe, task, argv))  # an attribute, not a config key
    try:
        if task == "train":
            result = trainer.train(recipe, cfg)
        elif task == "eval":
            result = evaluate.evaluate(recipe, cfg)
        else:
            result = export_task(recipe, cfg)
    finally:
        modelarts.post_process(cfg)  # at the end, and after a failure or SIGTERM: what the run wrote is kept
    return result


def dry_run_lines(task, recipe, cfg):
    """What ``task`` would run: recipe, device, YAML, network, data and weights (MODEL_ZOO_DRY_RUN=1)."""
    weights = cfg.get("ckpt_file") if task == "export" else cfg.get("pre_trained")
    data = cfg.get("eval_data_dir") or cfg.get("data_dir") if task == "eval" else cfg.get("data_dir")
    lines = [f"dry run: {task} {recipe.name} on {cfg.device_target} (nothing is run)",
             f"config: {cfg.config_path}",
             f"network: {cfg.get('arch') or recipe.name}, num_classes {cfg.num_classes}, image_size {cfg.image_size}",
             f"data: {cfg.dataset} {data or '(none)'}",
             f"weights: {weights or '(none)'}"]
    if task == "train":
        lines.append(f"training: batch_size {cfg.batch_size} x accumulation_steps {cfg.get('accumulation_steps', 1)}, "
                     f"max_epoch {cfg.max_epoch}, lr_scheduler {cfg.get('lr_scheduler', '')}, is_distributed "
                     f"{int(cfg.is_distributed)}")
    if task == "export":
        lines.append(f"export: {cfg.file_format} {cfg.file_name}, batch_size {cfg.batch_size}")
    return lines


def dry_run(task, recipe_name, argv):
    recipe, cfg = resolve(task, recipe_name, argv)
    for line in dry_run_lines(task, recipe, cfg):
        say(line)
    return cfg


def main(task, recipe_name, argv=None):
    """Run ``task`` for ``recipe_name``; returns the process exit code.  ``MODEL_ZOO_DRY_RUN=1`` (or ``--dry_run``)
    resolves the configuration and prints what would run, as the launcher's dry run does."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if task not in TASKS:
        raise ValueError(task)
    if "--dry_run" in argv or os.environ.get("MODEL_ZOO_DRY_RUN", "").strip().lower() in ("1", "true", "yes"):
        argv = [a for a in argv if a != "--dry_run"]
        return guarded(lambda: dry_run(task, recipe_name, argv), argv)
    return guarded(lambda: run(task, recipe_name, argv), argv)


def guarded(function, argv):
    """Run ``function()``: a failure is one ``error:`` line and a non-zero exit code (the trace only with
    ``--debug``); returns the exit code."""
    try:
        function()
        return 0
    except ZooError as exc:
        if _debug_requested(argv):
            raise
        note(f"{getattr(exc, 'prefix', 'error')}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        note("error: interrupted")
        return 130
    except Exception as exc:  # anything else: one line, full trace only with --debug
        if _debug_requested(argv):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        note(f"error: {exc.__class__.__name__}: {first} (run with --debug for the full trace)")
        return 1


def script_main(task, recipe_name):
    """For a model folder's thin ``train.py``/``eval.py``/``export.py``.  SIGTERM / Ctrl-C end the process at once
    with one line (exit 143 / 130) until training takes over (:mod:`model_zoo.engine.signals`)."""
    from model_zoo.engine.signals import exit_at_once_on_signals

    exit_at_once_on_signals(" before training started; nothing to save" if task == "train" else f" ({task}.py)")
    sys.exit(main(task, recipe_name))
