"""Inference benchmark: ``python -m model_zoo.benchmark_infer --model vgg19 --arch vgg16_bn --batch_size 8 --threads 2
--warmup 3 --iters 20 [--ckpt_file X.ckpt] [--data_dir D]`` (see model_zoo/engine/deploy/benchmark.py)."""
import sys

import model_zoo  # noqa: F401  (fast CPU settings before MindSpore loads)
from model_zoo.engine.deploy.cli import module_main

if __name__ == "__main__":
    sys.exit(module_main(["benchmark"] + sys.argv[1:]))
