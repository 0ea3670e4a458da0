"""DenseNet 310-inference preprocess, as upstream: label JSON / img_id:label file (ImageNet) or .bin batches (CIFAR-10)."""
import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import script_main

if __name__ == "__main__":
    script_main("preprocess", "densenet121")
