"""Entry points behind every ``train.py`` / ``eval.py`` / ``export.py``: config, one-line errors, exit codes."""
import os
import sys
from pathlib import Path

from model_zoo.engine.errors import ZooError

TASKS = ("train", "eval", "export")


def _debug_requested(argv):
    return os.environ.get("MODEL_ZOO_DEBUG") == "1" or any(
        a == "--debug" or a.lower() in ("--debug=true", "--debug=1") for a in argv)


def config_builder(recipe, task, argv):
    """``build(layer=None) -> cfg``: the task's configuration (with a checkpoint's layer under the command line),
    normalised by the recipe's ``prepare`` hook."""
    from model_zoo.engine.config import ConfigSchema, load_config

    schema = ConfigSchema(recipe.yaml_paths(), recipe.aliases)

    def build(layer=None):
        cfg = load_config(schema, argv, recipe.default_config_path(), prog=f"{task}.py",
                          description=f"{recipe.name} {task} ({recipe.description})", config_dirs=[recipe.folder],
                          weights_layer=layer)
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
    print(f"exported {result['file']} ({result['format']}{precision}, input {max(batch, 1)}x3x{height}x{width}); "
          f"max abs diff vs {'float16 ' if fp16 else ''}network: {check}")
    if fp16 and result.get("fp16_vs_fp32") is not None:
        print(f"float16 vs the float32 network: max abs diff {result['fp16_vs_fp32']:.3g}; results of this graph are "
              f"float16: read them with postprocess --result_dtype float16")
    return result


def run(task, recipe_name, argv):
    from model_zoo.engine import evaluate, trainer, weights

    from model_zoo.engine import modelarts

    recipe, cfg = resolve(task, recipe_name, argv)
    modelarts.pre_process(cfg)
    if cfg.get("enable_modelarts") and weights.attached(cfg) is None:  # the weights have just been synced here
        cfg = weights.configure(recipe, cfg, task, rebuild=None)
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


def main(task, recipe_name, argv=None):
    """Run ``task`` for ``recipe_name``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if task not in TASKS:
        raise ValueError(task)
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
        print(f"{getattr(exc, 'prefix', 'error')}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else: one line, full trace only with --debug
        if _debug_requested(argv):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"error: {exc.__class__.__name__}: {first} (run with --debug for the full trace)", file=sys.stderr)
        return 1


def script_main(task, recipe_name):
    """For a model folder's thin ``train.py``/``eval.py``/``export.py``.  SIGTERM / Ctrl-C end the process at once
    with one line (exit 143 / 130) until training takes over (:mod:`model_zoo.engine.signals`)."""
    from model_zoo.engine.signals import exit_at_once_on_signals

    exit_at_once_on_signals(" before training started; nothing to save" if task == "train" else f" ({task}.py)")
    sys.exit(main(task, recipe_name))
