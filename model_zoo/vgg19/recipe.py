"""The VGG19 ModelZoo recipe (and the whole VGG family) on the shared engine."""
from pathlib import Path

from model_zoo.engine import optim
from model_zoo.engine.config import parse_image_size
from model_zoo.engine.registry import PretrainedCfg, Recipe, register_model, register_recipe
from model_zoo.vgg19.src import vgg
from model_zoo.vgg19.src.crossentropy import get_loss
from model_zoo.vgg19.src.dataset import create_dataset
from model_zoo.vgg19.src.lr_schedule import get_lr
from model_zoo.vgg19.src.var_init import initialize

FOLDER = Path(__file__).resolve().parent
PAPER_NAMES = {"A": "vgg11", "A_lrn": "vgg11_lrn", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_c",
               "D": "vgg16", "E": "vgg19"}
PAPER_CONFIG = "vgg_paper_config.yaml"
# without --config_path, the data set picks the YAML (seed 004's MNIST / CIFAR-100 runs: the paper recipe)
DATASET_CONFIGS = {"cifar10": "cifar10_config.yaml", "imagenet2012": "imagenet2012_config.yaml",
                   "imagenet": "imagenet2012_config.yaml", "folder": "imagenet2012_config.yaml",
                   "mnist": PAPER_CONFIG, "cifar100": PAPER_CONFIG}


def config_for(cfg, dataset):
    """The YAML for the data set asked for; a paper letter (``--model_version A``, seed 004) without ``--dataset``
    picks the paper recipe, whatever data folder it is given."""
    paper = cfg.sources.get("arch") == "command line" and str(cfg.arch) in PAPER_NAMES
    if paper and cfg.sources.get("dataset") != "command line":
        return PAPER_CONFIG
    return DATASET_CONFIGS.get(dataset)


def resolve_arch(cfg):
    """Effective variant from ``arch`` (alias ``model_version``) and ``batch_norm``.  A paper letter (A, A_lrn, B,
    C, D, E) is the paper's network, without BatchNorm unless ``--batch_norm=True`` is given."""
    arch = str(cfg.arch or "vgg19")
    if arch in PAPER_NAMES:
        arch = PAPER_NAMES[arch]
        if cfg.sources.get("batch_norm") != "command line":
            cfg.batch_norm = False
    if arch not in vgg.VARIANTS:
        from model_zoo.engine.registry import model_spec

        arch = model_spec(arch).name  # raises a one-line error with a suggestion
    if arch.endswith("_bn"):
        cfg.batch_norm = True
    elif cfg.get("batch_norm") and f"{arch}_bn" in vgg.VARIANTS:
        arch = f"{arch}_bn"
    return arch


def prepare(cfg, task):
    cfg.arch = resolve_arch(cfg)
    if cfg.sources.get("data_path") == "command line" and cfg.sources.get("data_dir") != "command line":
        cfg.data_dir = cfg.data_path  # the upstream README passes --data_path
    cfg.per_batch_size = cfg.batch_size
    if cfg.dataset == "imagenet":
        cfg.dataset = "imagenet2012"


def network(cfg, phase):
    dropout = 0.5 if (cfg.has_dropout and phase == "train") else 0.0
    net = vgg.build(cfg.arch, num_classes=int(cfg.num_classes), has_bias=bool(cfg.has_bias),
                    image_size=parse_image_size(cfg.image_size), dropout=dropout, pad_mode=cfg.pad_mode,
                    padding=int(cfg.padding))
    return initialize(net, cfg.initialize_mode, cfg.get("init_std", 0.01))


def dense_network(cfg, net):
    """eval_mode dense: the fully convolutional form of a trained VGG (same weights)."""
    return vgg.DenseVGG(net)


def epoch_lines(cfg, s):
    return [f"epoch: {s['epoch']} step: {s['steps']}, loss is {s['loss']:.6f}",
            f"epoch time: {s['epoch_time_ms']:.3f} ms, per step time: {s['per_step_ms']:.3f} ms, "
            f"lr: {s['lr']:.6g}, throughput: {s['fps']:.2f} imgs/sec"]


def eval_lines(cfg, c):
    local = c["local"]
    tot = max(c["tot"], 1)
    lines = [f"Inference Performance: {c['fps']:.2f} img/sec",
             f"before results=[[{local['top1']}], [{local['top5']}], [{local['tot']}]]",
             f"after results=[[{c['top1']}], [{c['top5']}], [{c['tot']}]]",
             f"after allreduce eval: top1_correct={c['top1']}, tot={c['tot']},acc={100.0 * c['top1'] / tot:.2f}%(TOP1)",
             f"after allreduce eval: top5_correct={c['top5']}, tot={c['tot']},acc={100.0 * c['top5'] / tot:.2f}%(TOP5)"]
    if cfg.dataset == "cifar10":
        lines.append(f"result: {{'acc': {c['top1'] / tot:.4f}}}")
    return lines


RECIPE = register_recipe(Recipe(
    name="vgg19", folder=FOLDER, default_config="cifar10_config.yaml", network=network, dataset=create_dataset,
    lr=get_lr, loss=get_loss, optimizer=optim.momentum_recipe, epoch_lines=epoch_lines, eval_lines=eval_lines,
    aliases={"model_version": "arch"}, prepare=prepare, config_for=config_for, dense_network=dense_network,
    description="VGG 11/13/16/19 (+BN), paper configurations A-LRN and C"))


def _builder(name):
    def build(num_classes=1000, **kwargs):
        return vgg.build(name, num_classes=num_classes, **kwargs)
    build.__name__ = name
    return build


for _name, (_config, _bn, _paper) in vgg.VARIANTS.items():
    register_model(_name, _builder(_name), recipe="vgg19", pretrained_cfg=PretrainedCfg(),
                   description=f"VGG config {_config}{' + BatchNorm' if _bn else ''}",
                   aliases=(_paper,) if _paper else ())
