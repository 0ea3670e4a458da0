"""DenseNet initialisation recipe (upstream ``densenet.py``), on the shared initialisers, in the upstream order:
PyTorch default for Conv/Dense (HeUniform(a=sqrt(5)), biases U(+-1/sqrt(fan_in))), then conv weights
HeNormal(fan_out, relu), BatchNorm gamma 1 / beta 0, Dense biases 0 (the Dense weight keeps the first step)."""
from model_zoo.engine import init


def initialize(net):
    init.torch_default(net)
    init.kaiming_normal_convs(net)
    init.batchnorm_defaults(net)
    init.zero_dense_bias(net)
    return net


# upstream src/utils/var_init.py names
KaimingNormal, KaimingUniform, default_recurisive_init = init.KaimingNormal, init.KaimingUniform, init.torch_default
