"""VGG data recipe: the upstream transforms for ImageNet-style folders and CIFAR-10, on the shared pipeline.

ImageNet: random resized crop (scale 0.08-1) + flip, no colour jitter; eval resize 256x256 (square) -> centre
crop 224; mean/std x255 on 0-255 pixels.  CIFAR-10: random crop 32 pad 4 + flip, resize to image_size, and the
upstream BGR-ordered statistics (0.4465, 0.4822, 0.4914) / (0.2010, 0.1994, 0.2023) applied to RGB data, kept
as is so that upstream checkpoints see the input they were trained on.
"""
from model_zoo.engine import data

CIFAR_MEAN = (0.4465, 0.4822, 0.4914)
CIFAR_STD = (0.2010, 0.1994, 0.2023)


def create_dataset(cfg, training, rank=0, group_size=1):
    return data.recipe_dataset(cfg, training, rank, group_size, cifar_mean=CIFAR_MEAN, cifar_std=CIFAR_STD)
