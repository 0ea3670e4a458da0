"""Toy eval entry point: `python eval.py [--config_path=toy_config.yaml] [--key=value ...]`."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
import toy_recipe  # noqa: F401  (registers the toy recipe; a folder under model_zoo/ needs no such line)
from model_zoo.engine.cli import script_main

if __name__ == "__main__":
    script_main("eval", "toy")
