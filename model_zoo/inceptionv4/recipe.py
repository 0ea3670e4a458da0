"""The InceptionV4 ModelZoo recipe on the shared engine."""
import os
from pathlib import Path

from model_zoo.engine import optim
from model_zoo.engine.config import parse_image_size
from model_zoo.engine.registry import PretrainedCfg, Recipe, register_model, register_recipe
from model_zoo.inceptionv4.src import inceptionv4
from model_zoo.inceptionv4.src.dataset import create_dataset
from model_zoo.inceptionv4.src.loss import get_loss
from model_zoo.inceptionv4.src.lr_generator import get_lr
from model_zoo.inceptionv4.src.var_init import initialize

FOLDER = Path(__file__).resolve().parent
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)


def prepare(cfg, task):
    cfg.arch = "inception_v4"
    if cfg.dataset == "imagenet":
        cfg.dataset = "imagenet2012"
    if int(os.environ.get("RANK_SIZE", "1") or 1) > 1 and cfg.sources.get("is_distributed") != "command line":
        cfg.is_distributed = True  # upstream: device_num = RANK_SIZE > 1 decides (8-card ModelArts jobs)
    if cfg.sources.get("image_size") == "command line":
        cfg.height, cfg.width = parse_image_size(cfg.image_size)
    cfg.image_size = f"{cfg.height},{cfg.width}"
    if task == "train" and cfg.sources.get("pre_trained") != "command line":
        cfg.pre_trained = ""  # the YAML's checkpoint_path is the eval checkpoint; training starts from --resume
    if task == "export" and cfg.sources.get("batch_size") != "command line":
        cfg.batch_size = 1  # upstream export.py forces batch 1


def network(cfg, phase):
    from model_zoo.engine.errors import ConfigError

    height, width = parse_image_size(cfg.image_size)
    smallest = inceptionv4.MIN_INPUT_SIZE  # the stem's stride-2 convolutions and reductions leave nothing of less
    if min(height, width) < smallest:
        raise ConfigError(f"InceptionV4 needs inputs of at least {smallest}x{smallest}, got {height}x{width}; "
                          f"raise --height/--width (or --image_size)")
    net = inceptionv4.InceptionV4(num_classes=int(cfg.num_classes), head=cfg.head, bn_eps=float(cfg.bn_eps),
                                  bn_momentum=float(cfg.bn_momentum))
    return initialize(net)


def optimizer(cfg, net, lr):
    from mindspore import Tensor

    return optim.rmsprop(net, Tensor(lr), cfg.decay, cfg.momentum, cfg.epsilon, cfg.weight_decay, cfg.loss_scale)


def infer_lines(cfg, counts):
    """Upstream postprocess.py's acc.log lines (the README shows ``accuracy:80.044``)."""
    return [f"========step:{counts['tot']}========", f"========sum:{counts['top1']}========",
            f"========accuracy:{counts['top1'] * 100.0 / max(counts['tot'], 1)}========"]


def epoch_lines(cfg, s):
    lines = [f"epoch: {s['epoch']} step: {s['steps']}, loss is {s['loss']:.7f}",
             f"Epoch time: {s['epoch_time_ms']:.3f}, per step time: {s['per_step_ms']:.3f}, "
             f"throughput: {s['fps']:.2f} imgs/sec"]
    if s["epoch"] == int(cfg.max_epoch):
        lines.append("Inceptionv4 training success!")
    return lines


def eval_lines(cfg, c):
    tot = max(c["tot"], 1)
    metric = {"Loss": round(c["loss_sum"] / tot, 4), "Top1-Acc": round(c["top1"] / tot, 4),
              "Top5-Acc": round(c["top5"] / tot, 4)}
    return ["==================== Evalute start ====================", f"metric:  {metric}",
            f"(top1_correct={c['top1']}, top5_correct={c['top5']}, tot={c['tot']})"]


RECIPE = register_recipe(Recipe(
    name="inceptionv4", folder=FOLDER, default_config="default_config.yaml", network=network,
    dataset=create_dataset, lr=get_lr, loss=get_loss, optimizer=optimizer, epoch_lines=epoch_lines,
    eval_lines=eval_lines, prepare=prepare, infer_lines=infer_lines,
    description="InceptionV4 (299x299, RMSProp, warm-up + cosine)",
    aliases={"dataset_path": "data_dir", "platform": "device_target", "epoch_size": "max_epoch",
             "checkpoint_path": "pre_trained", "ds_type": "dataset", "work_nums": "num_parallel_workers",
             "ds_sink_mode": "dataset_sink_mode", "save_checkpoint_epochs": "ckpt_interval",
             "smooth_factor": "label_smooth_factor", "distribute": "is_distributed"}))

register_model("inception_v4", lambda num_classes=1000, **kw: inceptionv4.InceptionV4(num_classes, **kw),
               recipe="inceptionv4", aliases=("inceptionv4",),
               pretrained_cfg=PretrainedCfg(input_size=(3, 299, 299), mean=INCEPTION_MEAN, std=INCEPTION_STD,
                                            interpolation="bicubic", crop_pct=0.875),
               description="Inception-v4 (upstream or reference head)")
