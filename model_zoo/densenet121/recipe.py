"""The DenseNet ModelZoo recipe (DenseNet121 on ImageNet, DenseNet100 on CIFAR-10) on the shared engine."""
from pathlib import Path

from model_zoo.densenet121.src import densenet
from model_zoo.densenet121.src.crossentropy import get_loss
from model_zoo.densenet121.src.dataset import create_dataset
from model_zoo.densenet121.src.lr_scheduler import get_lr
from model_zoo.densenet121.src.var_init import initialize
from model_zoo.engine import optim
from model_zoo.engine.registry import PretrainedCfg, Recipe, model_spec, register_model, register_recipe

FOLDER = Path(__file__).resolve().parent
BUILDERS = {"densenet121": densenet.densenet121, "densenet161": densenet.densenet161,
            "densenet169": densenet.densenet169, "densenet201": densenet.densenet201,
            "densenet100": densenet.densenet100}


def config_for(cfg, dataset):
    """Without --config_path: CIFAR-10 (or --net=densenet100) picks densenet100_config.yaml (upstream always read
    densenet121_config.yaml), ImageNet layouts densenet121_config.yaml."""
    if dataset == "cifar10" or (dataset is None and cfg.sources.get("arch") == "command line"
                                and cfg.arch == "densenet100"):
        return "densenet100_config.yaml"
    return "densenet121_config.yaml" if dataset in ("imagenet", "imagenet2012", "folder") else None


def prepare(cfg, task):
    cfg.arch = model_spec(str(cfg.arch or "densenet121")).name
    if cfg.dataset == "imagenet":
        cfg.dataset = "imagenet2012"
    if task == "export":
        cfg.ckpt_file = cfg.ckpt_file or cfg.pre_trained
    else:
        cfg.batch_size = cfg.per_batch_size  # upstream: per_batch_size trains/evaluates, batch_size exports
        cfg.flag_names["batch_size"] = "--per_batch_size"  # what messages about the batch size name


def network(cfg, phase):
    net = BUILDERS[cfg.arch](num_classes=int(cfg.num_classes), transition_pool=cfg.transition_pool,
                             stem_pool=cfg.stem_pool)
    return initialize(net)


def epoch_lines(cfg, s):
    """Upstream ProgressMonitor line; one device also logs ``local passed`` (as the upstream README's
    single-device log)."""
    lines = [f"epoch[{s['real_epoch']}], iter[{s['iter']}], loss:{s['loss']:.6f}, epoch_time:{s['epoch_time_ms']:.2f} "
             f"ms, per_step_time:{s['per_step_ms']:.2f} ms, mean_fps:{s['fps']:.2f} imgs/sec"]
    return lines + (["local passed"] if int(cfg.get("group_size", 1)) == 1 else [])


def eval_lines(cfg, c):
    local, tot = c["local"], max(c["tot"], 1)
    lines = [f"before results=[[{local['top1']}], [{local['top5']}], [{local['tot']}]]",
             f"after results=[[{c['top1']}], [{c['top5']}], [{c['tot']}]]",
             f"after allreduce eval: top1_correct={c['top1']}, tot={c['tot']}, acc={100.0 * c['top1'] / tot:.2f}%"]
    if cfg.dataset != "cifar10":
        lines.append(f"after allreduce eval: top5_correct={c['top5']}, tot={c['tot']}, "
                     f"acc={100.0 * c['top5'] / tot:.2f}%")
    return lines


RECIPE = register_recipe(Recipe(
    name="densenet121", folder=FOLDER, default_config="densenet121_config.yaml", network=network,
    dataset=create_dataset, lr=get_lr, loss=get_loss, optimizer=optim.momentum_recipe, epoch_lines=epoch_lines,
    eval_lines=eval_lines, prepare=prepare, config_for=config_for,
    description="DenseNet121/161/169/201 (ImageNet), DenseNet100 (CIFAR-10)",
    aliases={"net": "arch", "train_data_dir": "data_dir", "train_pretrained": "pre_trained",
             "pretrained": "pre_trained", "ckpt_files": "pre_trained", "save_ckpt_path": "ckpt_path"}))

for _name, _build in BUILDERS.items():
    register_model(_name, _build, recipe="densenet121",
                   pretrained_cfg=PretrainedCfg(num_classes=10 if _name == "densenet100" else 1000,
                                                input_size=(3, 32, 32) if _name == "densenet100" else (3, 224, 224)),
                   description=_build.__doc__.splitlines()[0] if _build.__doc__ else _name)
