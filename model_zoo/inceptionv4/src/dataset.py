"""InceptionV4 data recipe (upstream ``src/dataset.py``) on the shared pipeline.

ImageNet: random resized crop to the input size (scale 0.08-1, ratio 3/4-4/3) + flip + colour jitter
(0.4, 0.4, 0.4); eval: short side to the input size (aspect kept) -> centre crop.  Pixels are rescaled to 0-1 and
normalised with the ImageNet mean/std (here in one Normalize on 0-255 values, which is the same arithmetic).
CIFAR-10: random crop pad 4 + flip, resize to the input size, mean (0.4914, 0.4822, 0.4465) / std (0.2023,
0.1994, 0.2010).  Unlike upstream, evaluation keeps the last partial batch (every image counted once).
"""
from model_zoo.engine import data
from model_zoo.engine.config import parse_image_size


def create_dataset(cfg, training, rank=0, group_size=1):
    size = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size))
    if cfg.dataset == "cifar10":
        ops = data.cifar_ops(training, size, hflip=cfg.hflip)
        root = cfg.data_dir if training else (cfg.eval_data_dir or cfg.data_dir)
        return data.cifar10_pipeline(root, ops, batch, training, rank, group_size, cfg.num_parallel_workers)
    if training:
        ops = data.imagenet_train_ops(size, min_scale=cfg.train_crop_min_scale, hflip=cfg.hflip,
                                      color_jitter=cfg.color_jitter)
    else:
        ops = data.imagenet_eval_ops(size, resize_ratio=cfg.eval_resize_ratio, keep_aspect=cfg.eval_keep_aspect)
    return data.image_pipeline(data.load_index(cfg, training), ops, batch, training, rank, group_size,
                               cfg.num_parallel_workers)
