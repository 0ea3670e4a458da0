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


# ---- upstream public names (src/datasets/classification.py) ----
def classification_dataset(data_dir, image_size, per_batch_size, max_epoch=1, rank=0, group_size=1, mode="train",
                           input_mode="folder", root="", num_parallel_workers=None, shuffle=None, sampler=None,
                           class_indexing=None, drop_remainder=True, transform=None, target_transform=None):
    """Upstream ImageNet pipeline (class folders, or ``input_mode='txt'``), with DenseNet's colour jitter."""
    return data.folder_dataset(data_dir, image_size, per_batch_size, rank, group_size, mode, input_mode, root,
                               num_parallel_workers, drop_remainder, color_jitter=0.4)
