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


# ---- upstream public name (src/dataset.py) ----
def create_dataset_imagenet(dataset_path, do_train, cfg=None, repeat_num=1):
    """Upstream ``create_dataset_imagenet(dataset_path, do_train, cfg, repeat_num=1)``: class folders at 299x299
    (train: random resized crop + flip + colour jitter 0.4; eval: short side 299 + centre crop), batches of
    ``cfg.batch_size`` (128) with the last partial one dropped, sharded by ``cfg.rank`` / ``cfg.group_size``."""
    index = data.scan_class_folders(dataset_path)
    size = (299, 299)
    ops = data.imagenet_train_ops(size, color_jitter=0.4) if do_train else \
        data.imagenet_eval_ops(size, resize_ratio=1.0, keep_aspect=True)
    dataset = data.image_pipeline(index, ops, int(getattr(cfg, "batch_size", 128)), do_train,
                                  int(getattr(cfg, "rank", 0)), int(getattr(cfg, "group_size", 1)),
                                  int(getattr(cfg, "work_nums", 0)), drop_remainder=True)
    return dataset.repeat(repeat_num) if repeat_num > 1 else dataset
