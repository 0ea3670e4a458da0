"""VGG data recipe: the upstream transforms for ImageNet-style folders and CIFAR-10, on the shared pipeline.

ImageNet: random resized crop (scale 0.08-1) + flip, no colour jitter; eval resize 256x256 (square) -> centre
crop 224; mean/std x255 on 0-255 pixels.  CIFAR-10: random crop 32 pad 4 + flip, resize to image_size, and the
upstream BGR-ordered statistics (0.4465, 0.4822, 0.4914) / (0.2010, 0.1994, 0.2023) applied to RGB data, kept
as is so that upstream checkpoints see the input they were trained on.
"""
from model_zoo.engine import data
from model_zoo.engine.config import parse_image_size

CIFAR_MEAN = (0.4465, 0.4822, 0.4914)
CIFAR_STD = (0.2010, 0.1994, 0.2023)


def create_dataset(cfg, training, rank=0, group_size=1):
    size = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size))
    if cfg.dataset == "cifar10":
        ops = data.cifar_ops(training, size, CIFAR_MEAN, CIFAR_STD, hflip=cfg.hflip, color_jitter=cfg.color_jitter)
        root = cfg.data_dir if training else (cfg.eval_data_dir or cfg.data_dir)
        return data.cifar10_pipeline(root, ops, batch, training, rank, group_size, cfg.num_parallel_workers)
    if training:
        ops = data.imagenet_train_ops(size, min_scale=cfg.train_crop_min_scale, hflip=cfg.hflip,
                                      color_jitter=cfg.color_jitter)
    else:
        ops = data.imagenet_eval_ops(size, resize_ratio=cfg.eval_resize_ratio, keep_aspect=cfg.eval_keep_aspect)
    index = data.load_index(cfg, training)
    return data.image_pipeline(index, ops, batch, training, rank, group_size, cfg.num_parallel_workers)
