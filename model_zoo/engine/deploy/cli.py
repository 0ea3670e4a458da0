"""Entry points of the deployment commands: the model folders' thin scripts and ``python -m ...deploy``."""
import importlib
import sys

from model_zoo.engine.console import note
from model_zoo.engine.deploy import common

# command -> (module, function); imported on use
COMMANDS = {
    "preprocess": ("chain", "preprocess"),
    "infer": ("chain", "infer"),
    "postprocess": ("chain", "postprocess"),
    "predict": ("predict", "predict"),
    "eval_onnx": ("onnx_eval", "eval_onnx"),
    "quantize": ("quantize", "quantize"),
    "benchmark": ("benchmark", "benchmark"),
}


def usage():
    from model_zoo.engine.registry import list_recipes

    return (f"usage: python -m model_zoo.engine.deploy {{{','.join(COMMANDS)}}} --model {{{','.join(list_recipes())}}} "
            f"[--key=value ...] [IMAGES ...]")


def run(command, recipe_name, argv):
    """Resolve the configuration and run one command; returns its result."""
    module_name, function_name = COMMANDS[command]
    module = importlib.import_module(f"model_zoo.engine.deploy.{module_name}")
    positionals = module.POSITIONALS if command == "predict" else ()
    recipe, cfg = common.resolve(command, recipe_name, argv, positionals,
                                 phase="export" if command == "benchmark" else "eval")
    return getattr(module, function_name)(recipe, cfg)


def main(command, recipe_name, argv=None):
    """Run ``command`` for ``recipe_name``; returns the process exit code (errors are one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if command not in COMMANDS:
        raise ValueError(command)
    return common.run_guarded(lambda: run(command, recipe_name, argv), argv)


def script_main(command, recipe_name):
    """For a model folder's thin ``preprocess.py`` / ``postprocess.py`` / ``predict.py`` / ``eval_onnx.py``."""
    sys.exit(main(command, recipe_name))


def split_model(argv):
    """Take ``--model NAME`` / ``--model=NAME`` out of argv; returns (name, the other arguments in order)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model", default=None)
    known, rest = parser.parse_known_args(argv)
    return known.model, rest


def module_main(argv=None):
    """``python -m model_zoo.engine.deploy COMMAND --model NAME ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        note(usage())
        return 2
    model, rest = split_model(argv[1:])
    if not model:
        from model_zoo.engine.registry import list_recipes

        note(f"error: {argv[0]} needs --model NAME (the recipe: {', '.join(list_recipes())})")
        return 2
    return main(argv[0], model, rest)
