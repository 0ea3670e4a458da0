"""The toy recipe: what a model folder registers so that the engine can train, evaluate and export its network.

Importing this module registers the recipe ``toy``, the network ``toy_net`` and (``toy_weights.py``) its weight
maps.  A folder under ``model_zoo/`` is imported by the engine's ``discover()``; this one lives in ``tests/`` (it is
not installed), so its entry points import it themselves.
"""
from pathlib import Path

from model_zoo.engine import data, lr, optim
from model_zoo.engine.loss import CrossEntropySmooth, smoothing_factor
from model_zoo.engine.registry import PretrainedCfg, Recipe, register_model, register_recipe

import toy_weights  # noqa: F401  (registers the weight maps)
from toy_net import toy_net

FOLDER = Path(__file__).resolve().parent


def network(cfg, phase):
    return toy_net(num_classes=int(cfg.num_classes), width=int(cfg.width))


def dataset(cfg, training, rank=0, group_size=1):
    return data.recipe_dataset(cfg, training, rank, group_size)


def schedule(cfg, steps_per_epoch):
    """Linear warm-up lr_init -> lr_max, then cosine to lr_end, one value per step."""
    return lr.warmup_cosine_per_step(steps_per_epoch, int(cfg.max_epoch), float(cfg.lr_init), float(cfg.lr_end),
                                     float(cfg.lr_max), int(cfg.warmup_epochs))


def loss(cfg):
    return CrossEntropySmooth(cfg.num_classes, smoothing_factor(cfg.label_smooth, cfg.label_smooth_factor))


def epoch_lines(cfg, s):
    return [f"toy epoch {s['epoch']} step {s['steps']} loss {s['loss']:.6f} lr {s['lr']:.6g}"]


def eval_lines(cfg, c):
    return [f"toy eval top1_correct={c['top1']} tot={c['tot']} acc={100.0 * c['top1'] / max(c['tot'], 1):.2f}%"]


RECIPE = register_recipe(Recipe(
    name="toy", folder=FOLDER, default_config="toy_config.yaml", network=network, dataset=dataset, lr=schedule,
    loss=loss, optimizer=optim.momentum_recipe, epoch_lines=epoch_lines, eval_lines=eval_lines,
    description="a tests-only toy network"))

register_model("toy_net", toy_net, recipe="toy", description="ToyNet: 2 conv + BN + ReLU, global mean, Dense",
               pretrained_cfg=PretrainedCfg(input_size=(3, 32, 32), num_classes=3))
