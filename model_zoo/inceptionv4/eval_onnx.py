"""InceptionV4 eval_onnx.py: evaluate an exported ONNX (--model_file / --file_name) with the same lines as eval.py."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import script_main

if __name__ == "__main__":
    script_main("eval_onnx", "inceptionv4")
