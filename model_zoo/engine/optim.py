"""Optimizers with the upstream parameter groups (no weight decay on biases and BatchNorm gamma/beta)."""
from mindspore import nn

NO_DECAY_SUFFIXES = (".bias", ".gamma", ".beta")


def param_groups(net, weight_decay, no_decay_suffixes=NO_DECAY_SUFFIXES):
    """Two groups: decayed weights and the rest with weight_decay 0.0 (explicitly, so the optimizer-level value
    cannot leak into it: an upstream recipe's bug)."""
    decay, no_decay = [], []
    for param in net.trainable_params():
        (no_decay if param.name.endswith(no_decay_suffixes) else decay).append(param)
    return [{"params": decay, "weight_decay": float(weight_decay)},
            {"params": no_decay, "weight_decay": 0.0},
            {"order_params": net.trainable_params()}]


def momentum(net, lr, momentum_value, weight_decay, loss_scale=1.0):
    return nn.Momentum(param_groups(net, weight_decay), learning_rate=lr, momentum=float(momentum_value),
                       weight_decay=float(weight_decay), loss_scale=float(loss_scale))


def rmsprop(net, lr, decay, momentum_value, epsilon, weight_decay, loss_scale=1.0):
    return nn.RMSProp(param_groups(net, weight_decay), learning_rate=lr, decay=float(decay),
                      momentum=float(momentum_value), epsilon=float(epsilon), weight_decay=float(weight_decay),
                      loss_scale=float(loss_scale))


def momentum_recipe(cfg, net, lr):
    """Momentum(cfg.momentum) over the per-step ``lr`` array with cfg.weight_decay and cfg.loss_scale."""
    from mindspore import Tensor

    return momentum(net, Tensor(lr), cfg.momentum, cfg.weight_decay, cfg.loss_scale)
