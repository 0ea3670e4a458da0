"""DenseNet 310-inference postprocess, as upstream: result_Files/*_0.bin + labels -> top-1 / top-5 accuracy."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import script_main

if __name__ == "__main__":
    script_main("postprocess", "densenet121")
