"""DenseNet export entry point, as upstream: `python export.py [--config_path=densenet100_config.yaml] [--key=value ...]`."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.cli import script_main

if __name__ == "__main__":
    script_main("export", "densenet121")
