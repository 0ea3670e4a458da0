"""VGG initialisation recipes (upstream ``initialize_mode``), on the shared initialisers.

* ``KaimingNormal`` (ImageNet YAML): PyTorch-default init first, then conv weights HeNormal(fan_out, relu),
  conv biases 0, Dense weights N(0, 0.01), Dense biases 0.
* ``XavierUniform`` (CIFAR YAML): conv weights XavierUniform, Dense layers the PyTorch default
  (upstream left them at the framework default, which changed in MindSpore 2.1; here it is stated explicitly).
* ``Normal`` (the paper recipe, ``vgg_paper_config.yaml``): every conv and Dense weight N(0, ``init_std``), every
  bias 0 (the paper: "zero mean and 10^-2 variance"; its Caffe reference used std 0.01, ``init_std: 0.01``).
Upstream silently left conv weights at all-ones for any other mode; here that is an error.
"""
from mindspore import nn

from model_zoo.engine import init
from model_zoo.engine.errors import ConfigError

MODES = ("KaimingNormal", "XavierUniform", "Normal")


def initialize(net, mode, std=0.01):
    if mode == "KaimingNormal":
        init.torch_default(net)
        init.kaiming_normal_convs(net)
        init.normal_dense(net, 0.01)
    elif mode == "XavierUniform":
        init.torch_default(net)
        init.xavier_uniform_convs(net)
    elif mode == "Normal":
        init.normal_dense(net, float(std), cells=(nn.Conv2d, nn.Dense))
    else:
        raise ConfigError(f"unknown initialize_mode {mode!r}; choose {' or '.join(MODES)}")
    return net


# upstream src/utils/var_init.py names
KaimingNormal, KaimingUniform, default_recurisive_init = init.KaimingNormal, init.KaimingUniform, init.torch_default
