"""VGG19 prediction: `python predict.py --ckpt_file X.ckpt (or --model_file X.onnx) IMAGE_OR_FOLDER` -> top-5."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import script_main

if __name__ == "__main__":
    script_main("predict", "vgg19")
