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


# ---- upstream public names (src/dataset.py) ----
def vgg_create_dataset(data_home, image_size, batch_size, rank_id=0, rank_size=1, repeat_num=1, training=True):
    """Upstream CIFAR-10 pipeline: ``data_home`` with cifar-10-batches-bin / cifar-10-verify-bin."""
    from model_zoo.engine.config import parse_image_size

    ops = data.cifar_ops(training, parse_image_size(image_size), CIFAR_MEAN, CIFAR_STD)
    dataset = data.cifar10_pipeline(data_home, ops, batch_size, training, rank_id, rank_size)
    return dataset.repeat(repeat_num) if repeat_num > 1 else dataset


def classification_dataset(data_dir, image_size, per_batch_size, rank=0, group_size=1, mode="train",
                           input_mode="folder", root="", num_parallel_workers=None, shuffle=None, sampler=None,
                           repeat_num=1, class_indexing=None, drop_remainder=True, transform=None,
                           target_transform=None):
    """Upstream ImageNet pipeline (class folders, or ``input_mode='txt'``); shuffling follows ``mode``."""
    dataset = data.folder_dataset(data_dir, image_size, per_batch_size, rank, group_size, mode, input_mode, root,
                                  num_parallel_workers, drop_remainder)
    return dataset.repeat(repeat_num) if repeat_num > 1 else dataset
