"""MindSpore 2.x image-classification model zoo: VGG, DenseNet and InceptionV4 recipes on one shared engine.

Importing the package first puts the CPU runtime on its fast path (see :mod:`model_zoo.engine.cpu_env`);
every entry point (train, eval, export, tests, benchmarks) imports ``model_zoo`` before MindSpore.
"""
from model_zoo.engine import cpu_env as _cpu_env

CPU_ENV_SUMMARY = _cpu_env.apply()

__version__ = "0.1.0"
