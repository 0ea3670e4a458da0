"""InceptionV4 data recipe (upstream ``src/dataset.py``) on the shared pipeline.

ImageNet: random resized crop to the input size (scale 0.08-1, ratio 3/4-4/3) + flip + colour jitter
(0.4, 0.4, 0.4); eval: short side to the input size (aspect kept) -> centre crop.  Pixels are rescaled to 0-1 and
normalised with the ImageNet mean/std (here in one Normalize on 0-255 values, which is the same arithmetic).
CIFAR-10: random crop pad 4 + flip (no jitter), resize to the input size, mean (0.4914, 0.4822, 0.4465) / std
(0.2023, 0.1994, 0.2010).  Unlike upstream, evaluation keeps the last partial batch (every image counted once).
"""
from model_zoo.engine import data

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def create_dataset(cfg, training, rank=0, group_size=1):
    return data.recipe_dataset(cfg, training, rank, group_size, cifar_mean=CIFAR_MEAN, cifar_std=CIFAR_STD,
                               cifar_color_jitter=False)
