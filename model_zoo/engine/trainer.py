"""Training on MindSpore's ``Model`` with the recipe's network, data, schedule, loss and optimizer."""
import json
import time
from pathlib import Path

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import runtime
from model_zoo.engine.callbacks import CheckpointSaver, TrainMonitor
from model_zoo.engine.config import save_config
from model_zoo.engine.errors import DeviceError


def loss_scale_manager(cfg, backend):
    """(manager, optimizer loss scale): dynamic where the device supports it, fixed otherwise."""
    from mindspore.train import DynamicLossScaleManager, FixedLossScaleManager

    if int(cfg.is_dynamic_loss_scale):
        if not backend.dynamic_loss_scale:
            raise DeviceError(f"is_dynamic_loss_scale=1 is not supported on {backend.name} (MindSpore accepts only a "
                              f"fixed loss scale there); use --is_dynamic_loss_scale=0 --loss_scale=1024")
        return DynamicLossScaleManager(init_loss_scale=65536, scale_factor=2, scale_window=2000), 1.0
    scale = float(cfg.loss_scale) if float(cfg.loss_scale) > 0 else 1.0
    # drop_overflow_update=False: the optimizer divides the gradients by the same scale (needed for O2 on CPU)
    return FixedLossScaleManager(scale, drop_overflow_update=False), scale


def train(recipe, cfg):
    """Run a training job.  Returns a summary dict (also written to summary.json)."""
    from mindspore import Model

    ctx = runtime.setup(cfg, "train")
    logger = ctx.logger
    runtime.log_args(logger, cfg)
    amp_level = ctx.backend.check_amp(cfg.amp_level)
    lsm, opt_scale = loss_scale_manager(cfg, ctx.backend)
    cfg.loss_scale = opt_scale
    if ctx.is_main:
        save_config(cfg, ctx.output_dir)

    dataset = recipe.dataset(cfg, True, ctx.rank, ctx.group_size)
    steps_per_epoch = dataset.get_dataset_size()
    logger.info(f"important: start create network ({cfg.arch or recipe.name}, {ctx.backend.name}, "
                f"{ctx.group_size} rank(s), {steps_per_epoch} steps/epoch, amp {amp_level})")
    net = recipe.network(cfg, "train")
    if cfg.pre_trained:
        ckpt_io.load_into(net, cfg.pre_trained, what="--pre_trained checkpoint")
        logger.info(f"load model {cfg.pre_trained} success")
    lr = recipe.lr(cfg, steps_per_epoch)
    optimizer = recipe.optimizer(cfg, net, lr)
    model = Model(net, loss_fn=recipe.loss(cfg), optimizer=optimizer, amp_level=amp_level, loss_scale_manager=lsm)

    monitor = TrainMonitor(recipe, cfg, ctx, lr, steps_per_epoch)
    callbacks = [monitor]
    saver = None
    if ctx.is_main or not int(cfg.is_save_on_master):
        fmt = dict(ckpt_path=str(cfg.ckpt_path).rstrip("/"), output_dir=str(ctx.output_dir), rank=ctx.rank,
                   datetime=ctx.stamp)
        directory = Path(str(cfg.ckpt_dir_template).format(**fmt))
        saver = CheckpointSaver(directory, str(cfg.ckpt_prefix).format(**fmt), cfg.ckpt_interval,
                                cfg.ckpt_interval_unit, cfg.keep_checkpoint_max, steps_per_epoch, logger,
                                extra={"zoo_arch": str(cfg.arch or recipe.name)})
        callbacks.append(saver)
    start = time.time()
    model.train(int(cfg.max_epoch), dataset, callbacks=callbacks,
                dataset_sink_mode=bool(cfg.get("dataset_sink_mode", False)) and ctx.backend.name != "CPU")
    wall = time.time() - start
    summary = {
        "model": recipe.name, "arch": str(cfg.arch or recipe.name), "device": ctx.backend.name,
        "ranks": ctx.group_size, "epochs": int(cfg.max_epoch), "steps_per_epoch": steps_per_epoch,
        "wall_time_s": round(wall, 3), "output_dir": str(ctx.output_dir),
        "checkpoints": [str(p) for p in (saver.saved if saver else [])],
        "last_loss": float(monitor.history[-1]["loss"]) if monitor.history else None,
        "imgs_per_sec": float(monitor.history[-1]["imgs_per_sec"]) if monitor.history else None,
    }
    if ctx.is_main:
        (Path(ctx.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    logger.info(f"training done in {wall:.1f} s; outputs in {ctx.output_dir}")
    return summary
