"""InceptionV4 initialisation recipe (upstream ``train.py``): every weight whose name has none of beta / gamma /
bias gets XavierUniform, biases 0; BatchNorm keeps gamma 1 / beta 0."""
from model_zoo.engine import init


def initialize(net):
    init.xavier_all_weights(net)
    return net
