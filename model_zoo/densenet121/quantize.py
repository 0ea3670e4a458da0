"""DenseNet int8: static quantisation of an exported ONNX, calibrated on images covering every class."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import script_main

if __name__ == "__main__":
    script_main("quantize", "densenet121")
