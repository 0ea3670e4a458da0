"""DenseNet data recipe (upstream ``src/datasets/classification.py``) on the shared pipeline.

ImageNet: random resized crop (scale 0.08-1, ratio 3/4-4/3) + flip + colour jitter (0.4, 0.4, 0.4); eval square
resize to image_size/0.875 (256 for 224) -> centre crop; ImageNet mean/std on 0-255 pixels.
CIFAR-10: random crop pad 4 + flip + colour jitter (0.4, 0.4, 0.4); mean = std = 127.5.
The jitter strength is the YAML's ``color_jitter`` (0.4 in both upstream configs).
"""
from model_zoo.engine import data
from model_zoo.engine.config import parse_image_size

CIFAR_MEAN = CIFAR_STD = (0.5, 0.5, 0.5)


def create_dataset(cfg, training, rank=0, group_size=1):
    size = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size))
    jitter = cfg.color_jitter
    if cfg.dataset == "cifar10":
        ops = data.cifar_ops(training, size, CIFAR_MEAN, CIFAR_STD, hflip=cfg.hflip, color_jitter=jitter)
        root = cfg.data_dir if training else (cfg.eval_data_dir or cfg.data_dir)
        return data.cifar10_pipeline(root, ops, batch, training, rank, group_size, cfg.num_parallel_workers)
    if training:
        ops = data.imagenet_train_ops(size, min_scale=cfg.train_crop_min_scale, hflip=cfg.hflip, color_jitter=jitter)
    else:
        ops = data.imagenet_eval_ops(size, resize_ratio=cfg.eval_resize_ratio, keep_aspect=cfg.eval_keep_aspect)
    return data.image_pipeline(data.load_index(cfg, training), ops, batch, training, rank, group_size,
                               cfg.num_parallel_workers)
