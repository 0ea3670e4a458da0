"""DenseNet data recipe (upstream ``src/datasets/classification.py``) on the shared pipeline.

ImageNet: random resized crop (scale 0.08-1, ratio 3/4-4/3) + flip + colour jitter (0.4, 0.4, 0.4); eval square
resize to image_size/0.875 (256 for 224) -> centre crop; ImageNet mean/std on 0-255 pixels.
CIFAR-10: random crop pad 4 + flip + colour jitter (0.4, 0.4, 0.4); mean = std = 127.5.
The jitter strength is the YAML's ``color_jitter`` (0.4 in both upstream configs).
"""
from model_zoo.engine import data

CIFAR_MEAN = CIFAR_STD = (0.5, 0.5, 0.5)


def create_dataset(cfg, training, rank=0, group_size=1):
    return data.recipe_dataset(cfg, training, rank, group_size, cifar_mean=CIFAR_MEAN, cifar_std=CIFAR_STD)
