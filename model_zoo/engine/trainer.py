"""Training on MindSpore's ``Model`` with the recipe's network, data, schedule, loss and optimizer.

Each epoch gets its own data pipeline seeded with ``seed + epoch`` (same on every rank), so the batches and
their random augmentations of epoch E never depend on what ran before; a resumed run rebuilds epoch E and skips
the batches already done, and ends with the same weights as an uninterrupted run.
"""
import json
import os
import time
from pathlib import Path

import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.boost.grad_accumulation import gradient_accumulation_op, gradient_clear_op
from mindspore.common import dtype as mstype

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine import rng, runtime, signals, weights
from model_zoo.engine.callbacks import CheckpointSaver, StepCounter, StopOnSignal, TrainMonitor, TrainState
from model_zoo.engine.config import require_positive, save_config
from model_zoo.engine.errors import CheckpointError, DeviceError, ZooError


class TrainingDiverged(ZooError):
    exit_code = 1


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


def _scalar(value):
    return int(np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value).reshape(-1)[0])


def find_resume_checkpoint(cfg, logger):
    """The checkpoint ``--resume`` names; for ``auto`` the newest intact full-state checkpoint (network, optimizer,
    epoch/step) under ``ckpt_path``, or None.  Weights-only files (best.ckpt) are never chosen."""
    if str(cfg.resume).lower() != "auto":
        return Path(cfg.resume)
    root = Path(str(cfg.ckpt_path))
    candidates = sorted((p for p in root.rglob("*.ckpt") if ".partial" not in p.parts
                         and p.name not in ckpt_io.WEIGHTS_ONLY_NAMES),
                        key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for path in candidates:
        try:
            params = ckpt_io.read(path)
        except CheckpointError as exc:
            logger.info(f"resume: skipping {path}: {exc}")
            continue
        if "step_num" in params and ckpt_io.has_optimizer_state(params):
            bad = ckpt_io.nonfinite_entries(params)
            if bad:
                logger.info(f"resume: skipping {path}: {len(bad)} tensor(s) hold NaN/inf (e.g. {bad[0]}); it was "
                            f"written after the run diverged")
                continue
            return path
        logger.info(f"resume: skipping {path}: network weights only (no optimizer state / epoch and step)")
    logger.info(f"resume auto: no checkpoint with training state under {root}; starting from scratch")
    return None


def restore(train_network, path):
    """Load network + optimizer (+ loss scale) state into the train network; returns the global step."""
    import mindspore as ms

    params = ckpt_io.read(path)
    if "step_num" not in params or not ckpt_io.has_optimizer_state(params):
        raise CheckpointError(f"{path} holds no training state (optimizer state, epoch/step: network weights only, "
                              f"like best.ckpt); it can start a run with --pre_trained but not --resume it")
    own = {p.name for p in train_network.get_parameters()}
    missing = sorted(own - set(params))
    if missing:
        raise CheckpointError(f"{path} does not fit this network/optimizer: missing {len(missing)} key(s) e.g. "
                              f"{', '.join(missing[:3])}; check --arch and the optimizer settings")
    ckpt_io.check_shapes(train_network, params, path)
    ms.load_param_into_net(train_network, {k: v for k, v in params.items() if k in own}, strict_load=True)
    return _scalar(params["step_num"])


def read_best(path):
    """(top1, epoch, step) recorded in a best.ckpt, or None (no file, unreadable, or written before the zoo
    recorded its score)."""
    from model_zoo.engine.weights_meta import read_meta

    meta = read_meta(path) if Path(path).is_file() else {}
    try:
        return float(meta["best_top1"]), int(meta.get("best_epoch", 0)), int(meta.get("best_step", 0))
    except (KeyError, TypeError, ValueError):
        return None


class EvalDuringTraining:
    """Top-1/top-5 on the val set every ``eval_interval`` epochs (exact counts summed over ranks); keeps best.ckpt.

    best.ckpt holds the network weights only (no optimizer state, so ``--resume auto`` never picks it), the
    ``zoo_*`` metadata of the run's other checkpoints (eval/predict configure themselves from it) and the score it
    was kept for (``zoo_best_top1``, ``zoo_best_top5``, ``zoo_best_epoch``, ``zoo_best_step``); a resumed run
    continues from that score instead of replacing best.ckpt with a worse epoch."""

    def __init__(self, recipe, cfg, ctx, net, best_path, meta=None):
        from model_zoo.engine import evaluate

        self.evaluate = evaluate
        self.recipe, self.cfg, self.ctx, self.net = recipe, cfg, ctx, net
        self.interval = max(1, int(cfg.eval_interval))
        self.best_path = Path(best_path) if best_path is not None else None
        self.meta = dict(meta or {})
        self.best = -1.0
        self.best_epoch = None
        self.carried = None  # best top-1 of the run this one resumed (before the resume point)
        self.batch = int(cfg.eval_batch_size or cfg.batch_size)

    def resume_best(self, resume_path, global_step):
        """After a resume: start from the best top-1 recorded in best.ckpt (in this run's checkpoint folder or in
        the folder of the checkpoint resumed from), copied here when it lives elsewhere.  A best.ckpt recorded
        after the resume point belongs to the epochs being redone and is ignored (they are evaluated again)."""
        if self.best_path is None:
            return
        sources = [self.best_path] + ([Path(resume_path).parent / "best.ckpt"] if resume_path else [])
        found = None
        for path in dict.fromkeys(sources):
            record = read_best(path)
            if record is None:
                continue
            top1, epoch, step = record
            if step > global_step:
                self.ctx.logger.info(f"resume: {path} (top1 {top1:.4f}, epoch {epoch}) is past the resume point; "
                                     f"ignored")
                continue
            if found is None or top1 > found[0]:
                found = (top1, epoch, path)
        if found is None:
            return
        self.best, self.best_epoch, source = found
        self.carried = self.best
        if source != self.best_path:
            ckpt_io.copy(source, self.best_path)
        self.ctx.logger.info(f"resume: best top1 so far {self.best:.4f} (epoch {self.best_epoch}) from {source}")

    def __call__(self, state):
        if state.epoch % self.interval and state.epoch != state.max_epoch:
            return {}
        dataset = self.recipe.dataset(self.cfg, False, self.ctx.rank, self.ctx.group_size)
        local = self.evaluate.count_topk(self.evaluate.network_predictor(self.net), dataset, self.batch)
        self.net.set_train(True)
        counts = self.evaluate.all_reduce_counts(local, self.ctx.group_size)
        tot = max(1, counts["tot"])
        top1, top5 = counts["top1"] / tot, counts["top5"] / tot
        self.ctx.logger.info(f"cur epoch {state.epoch}, cur_step {state.global_step}, top1 accuracy {top1:.4f}, "
                             f"top5 accuracy {top5:.4f}. (top1_correct={counts['top1']}, tot={counts['tot']})")
        if self.best_path is not None and top1 > self.best:
            self.best, self.best_epoch = top1, state.epoch
            # no epoch_num/step_num: those mark a checkpoint that can resume training, this one cannot
            record = {"zoo_best_top1": json.dumps(top1), "zoo_best_top5": json.dumps(top5),
                      "zoo_best_epoch": json.dumps(int(state.epoch)),
                      "zoo_best_step": json.dumps(int(state.global_step))}
            ckpt_io.save(self.net, self.best_path, append_dict=dict(self.meta, **record))
            self.ctx.logger.info(f"best top1 {top1:.4f} at epoch {state.epoch}: saved {self.best_path}")
        return {"top1": f"{top1:.6f}", "top5": f"{top5:.6f}"}


def checkpoint_metadata(recipe, cfg, dataset):
    """zoo_* entries written into every checkpoint: arch, recipe, class names, inference preprocessing."""
    from model_zoo.engine.weights import checkpoint_metadata as weights_metadata

    classes = getattr(dataset, "zoo_classes", None) or [str(i) for i in range(int(cfg.num_classes))]
    # with the recipe's network options (its weight maps' network_keys): eval/predict rebuild the same network
    return weights_metadata(recipe.name, cfg, classes, ckpt_io.preprocess_meta(cfg))


def _versions():
    import platform

    import mindspore

    import model_zoo

    return {"python": platform.python_version(), "mindspore": mindspore.__version__, "numpy": np.__version__,
            "model_zoo": model_zoo.__version__, "cpu_env": model_zoo.CPU_ENV_SUMMARY}


def _absolute(path):
    """A path as an absolute string (None and '' stay as they are): a summary read from anywhere names real files."""
    return os.path.abspath(str(path)) if path not in (None, "") else path


def _config_paths(config):
    """The config's file and folder values made absolute (``*_dir``, ``*_path``, ``*_file(s)``, ``pre_trained``,
    ``resume``), except ``auto``, URLs and templates."""
    def is_path(key, value):
        return (isinstance(value, str) and value not in ("", "auto") and "://" not in value
                and (key.endswith(("_dir", "_path", "_file", "_files")) or key in ("pre_trained", "resume")))

    return {k: _absolute(v) if is_path(k, v) else v for k, v in config.items()}


def run_summary(recipe, cfg, ctx, monitor, saver, eval_hook, steps_per_epoch, wall, resume_path, record=None):
    """summary.json: config, device, versions, last/best accuracy, images/s, wall time, checkpoints, and how the run
    ended (``status`` completed / stopped / diverged / failed, the final ``error`` line, the ``signal``, the
    ``diverged`` step and loss, the ``recovery_checkpoint``, the ``skipped_files``).  Every path in it is absolute."""
    history = monitor.history if monitor is not None else []
    last = history[-1] if history else {}
    evaluated = [row for row in history if row.get("top1") not in ("", None)]
    best_scores = [float(r["top1"]) for r in evaluated]
    if eval_hook is not None and eval_hook.carried is not None:
        best_scores.append(eval_hook.carried)  # the best of the epochs before a resume
    best_ckpt = eval_hook.best_path if eval_hook is not None and eval_hook.best >= 0 else None

    def number(row, key):
        return float(row[key]) if row and row.get(key) not in ("", None) else None

    return {
        "model": recipe.name, "arch": str(cfg.arch or recipe.name), "device": ctx.backend.name,
        "ranks": ctx.group_size, "epochs": int(cfg.max_epoch), "epochs_run": len(history),
        "steps_per_epoch": steps_per_epoch, "resumed_from": _absolute(resume_path) if resume_path else None,
        "wall_time_s": round(wall, 3), "output_dir": _absolute(ctx.output_dir),
        # the checkpoints still there (keep_checkpoint_max removed the rest)
        "checkpoints": [_absolute(p) for p in (saver.existing() if saver else [])],
        "best_checkpoint": _absolute(best_ckpt) if best_ckpt is not None and best_ckpt.is_file() else None,
        "best_epoch": eval_hook.best_epoch if best_ckpt is not None else None,
        "last_loss": number(last, "loss"), "imgs_per_sec": number(last, "imgs_per_sec"),
        "last_top1": number(evaluated[-1], "top1") if evaluated else None,
        "last_top5": number(evaluated[-1], "top5") if evaluated else None,
        "best_top1": max(best_scores) if best_scores else None,
        "metrics_csv": _absolute(monitor.csv_path) if monitor is not None else None,
        "curves_png": _absolute(monitor.curves_path) if monitor is not None and monitor.curves_path else None,
        **(record or {"status": "completed"}),
        "versions": _versions(),
        "config": _config_paths({k: v for k, v in cfg.items() if isinstance(v, (str, int, float, bool, type(None)))}),
    }


# ---------------------------------------------------------------------------------------------------------------
# gradient accumulation, LR on plateau, start_epoch (shared by every recipe)
# ---------------------------------------------------------------------------------------------------------------

def accumulation_steps(cfg):
    steps = int(cfg.get("accumulation_steps", 1) or 1)
    if steps < 1:
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"--accumulation_steps must be at least 1, got {steps}")
    return steps


def whole_accumulations(dataset, steps):
    """An epoch of micro-batches cut to a multiple of ``steps`` (every optimizer step sees ``steps`` batches)."""
    if steps == 1:
        return dataset
    size = dataset.get_dataset_size()
    if size < steps:
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"--accumulation_steps {steps} is more than the {size} batches of an epoch; lower it or "
                          f"--batch_size")
    return dataset.take(size - size % steps) if size % steps else dataset


class AccumulatingTrainStep(nn.TrainOneStepCell):
    """``nn.TrainOneStepCell`` that averages the gradients of ``steps`` calls and applies them once (then clears
    them), with the ops of ``mindspore.boost.GradientAccumulation``; that cell itself cannot be used here because it
    renames the network's parameters (``optimizer.<name>``), which would change every checkpoint key.  The sums and
    the step counter are parameters (``accum.grads.*``, ``accum.step``), so a checkpoint written mid-accumulation
    resumes exactly."""

    def __init__(self, network, optimizer, steps, sens=1.0):
        super().__init__(network, optimizer, sens)
        self.steps = int(steps)
        # 'accum.' keys are training state (model_zoo.engine.checkpoint), never loaded into a network
        self.accumulated = self.weights.clone(prefix="accum.grads", init="zeros")
        self.accumulation_step = Parameter(Tensor(0, mstype.int32), name="accum.step")
        self.hyper_map = ops.HyperMap()

    def construct(self, *inputs):
        loss = self.network(*inputs)
        sens = ops.fill(loss.dtype, loss.shape, self.sens)
        grads = self.grad_reducer(self.grad(self.network, self.weights)(*inputs, sens))
        loss = ops.depend(loss, self.hyper_map(ops.partial(gradient_accumulation_op, self.steps), self.accumulated,
                                               grads))
        self.accumulation_step += 1
        if self.accumulation_step >= self.steps:
            loss = ops.depend(loss, self.optimizer(self.accumulated))
            ops.assign(self.accumulation_step, 0)
        if self.accumulation_step == 0:
            loss = ops.depend(loss, self.hyper_map(gradient_clear_op, self.accumulated))
        return loss


def build_model(net, loss, optimizer, amp_level, lsm, steps):
    """MindSpore ``Model``; with ``steps`` > 1 its train network accumulates the gradients of ``steps`` batches
    before each optimizer update, so N batches of B give the update of one batch of N x B (exactly, for networks
    without BatchNorm).  The AMP and loss-scale wrapping is MindSpore's (``amp.build_train_network``)."""
    from mindspore import Model, amp

    if steps == 1:
        return Model(net, loss_fn=loss, optimizer=optimizer, amp_level=amp_level, loss_scale_manager=lsm)
    train_net = amp.build_train_network(net, optimizer, loss, level=amp_level, loss_scale_manager=lsm)
    if type(train_net) is not nn.TrainOneStepCell:  # a loss-scale cell would need its overflow handling
        raise DeviceError("--accumulation_steps works with a fixed loss scale; use --is_dynamic_loss_scale=0")
    return Model(AccumulatingTrainStep(train_net.network, optimizer, steps, train_net.sens).set_train())


class CurrentLR:
    """The LR the monitor shows for a global (micro-)step: the schedule's value for its optimizer step, or the
    optimizer's current learning-rate Parameter (LR on plateau)."""

    def __init__(self, schedule, steps, optimizer=None):
        self.schedule, self.steps, self.optimizer = schedule, steps, optimizer

    def __len__(self):
        return len(self.schedule) * self.steps

    def __getitem__(self, index):
        if self.optimizer is not None:
            return float(self.optimizer.learning_rate.asnumpy())
        return float(self.schedule[min(index // self.steps, len(self.schedule) - 1)])


def plateau_callback(cfg, monitor, optimizer):
    """``lr_scheduler=plateau``: MindSpore's ReduceLROnPlateau on the val top-1 of the epoch (``run_eval``), or on
    the mean training loss without it; factor ``lr_gamma``, patience ``lr_patience``."""
    from mindspore.train import ReduceLROnPlateau

    on_val = bool(cfg.run_eval)

    class Plateau(ReduceLROnPlateau):
        started = False

        def on_train_begin(self, run_context):
            if not self.started:  # the trainer calls Model.train once per epoch: keep the counters across them
                self.started = True
                super().on_train_begin(run_context)

        def on_train_epoch_end(self, run_context):
            cb_params = run_context.original_args()
            if cb_params.optimizer is None:  # a Model built on a train network (accumulation) knows no optimizer
                cb_params.optimizer = optimizer
            before = float(optimizer.learning_rate.asnumpy())
            super().on_train_epoch_end(run_context)
            after = float(optimizer.learning_rate.asnumpy())
            if after != before:
                monitor.ctx.logger.info(f"lr_scheduler plateau: {'val top1' if on_val else 'training loss'} did not "
                                        f"improve for {self.patience} epoch(s): lr {before:.6g} -> {after:.6g}")

        def _get_monitor_value(self, cb_params):
            row = monitor.history[-1] if monitor.history else {}
            value = row.get("top1") if on_val else row.get("mean_loss")
            return np.array(float(value)) if value not in ("", None) else None

    return Plateau(monitor="acc" if on_val else "loss", factor=float(cfg.lr_gamma), patience=int(cfg.lr_patience),
                   mode="max" if on_val else "min")


def start_at_epoch(cfg, state, optimizer, steps, logger):
    """Upstream ``start_epoch``: the run begins at that epoch, the LR schedule at its first step (checkpoint names
    continue from it); the weights come from ``--resume FILE`` (upstream's weights-only resume) or ``--pre_trained``.
    A zoo training state (``--resume``) carries its own position instead."""
    import mindspore as ms

    epoch = int(cfg.get("start_epoch", 1) or 1)
    if epoch <= 1:
        return
    if epoch > state.max_epoch:
        from model_zoo.engine.errors import ConfigError

        raise ConfigError(f"--start_epoch {epoch} is past the last epoch ({state.max_epoch})")
    state.resume_at((epoch - 1) * state.steps_per_epoch)
    optimizer.global_step.set_data(ms.Tensor(np.array([state.global_step // steps], dtype=np.int32)))
    logger.info(f"start_epoch {epoch}: training epochs {epoch}-{state.max_epoch}, LR from step "
                f"{state.global_step // steps} of the schedule")


def _lr_flag(cfg):
    """The learning-rate flag to name: the one given on the command line, else --lr when the recipe's YAML sets
    it, else the peak of a warm-up schedule (--lr_max)."""
    sources = getattr(cfg, "sources", {})
    keys = [key for key in ("lr", "lr_max", "lr_init") if key in cfg]
    for key in keys:
        if sources.get(key) == "command line":
            return key
    for key in keys:
        if sources.get(key, "default_config.yaml") != "default_config.yaml":
            return key
    return "lr"


def divergence_message(cfg, state, output_dir, amp_level="O0"):
    """One line: where the loss stopped being finite, its value, and what to lower."""
    where = state.diverged
    key = _lr_flag(cfg)
    lower = f"lower {cfg.flag(key) if hasattr(cfg, 'flag') else '--' + key} (now {cfg.get(key)})"
    if amp_level != "O0" and float(cfg.get("loss_scale") or 1) > 1:  # float16 compute: the scale can overflow
        lower += f" or --loss_scale (now {cfg.loss_scale})"
    return (f"training diverged: the loss became {where['loss']} at epoch {where['epoch']} step {where['step']} "
            f"(global step {where['global_step']}); checkpoints holding NaN/inf were not written; {lower}, or "
            f"check the data (log in {output_dir})")


def resume_command(cfg, path):
    """The command line that resumes this run from ``path``: the script with its flags (``cfg.command``, set by
    :func:`model_zoo.engine.cli.run`; else this process's), --resume replaced."""
    import shlex
    import sys

    script, *given = getattr(cfg, "command", None) or [sys.argv[0] or "train.py"] + sys.argv[1:]
    argv, skip = [], False
    for token in given:
        if skip:
            skip = False
            continue
        if token == "--resume":
            skip = True
            continue
        if token.startswith("--resume="):
            continue
        argv.append(token)
    return "python " + shlex.join([script] + argv + [f"--resume={path}"])


def checkpoint_names(ckpt_dir, prefix, output_dir, resume_path=None):
    """(prefix, recovery file name, claim file or None) of this run's checkpoints.

    In the run's own folder (the default ``{output_dir}/ckpt_{rank}``) nothing can collide.  A folder runs share
    (upstream layouts that write into ``ckpt_path`` itself) is claimed: as MindSpore's
    ``ModelCheckpoint``, a prefix whose checkpoints are there already becomes ``<prefix>_1``, ``<prefix>_2`` ...
    (recovery file ``recovery_<n>.ckpt``), taken atomically (``O_EXCL`` claim file) so that two runs started
    together never write, or prune, each other's files.  A run resumed from a checkpoint of that folder keeps its
    prefix."""
    import os
    import re

    ckpt_dir, output_dir = Path(ckpt_dir), Path(output_dir)
    try:
        ckpt_dir.resolve().relative_to(output_dir.resolve())
        return prefix, "recovery.ckpt", None
    except ValueError:
        pass

    def names(n):
        return (prefix, "recovery.ckpt") if n == 0 else (f"{prefix}_{n}", f"recovery_{n}.ckpt")

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    resumed = Path(resume_path) if resume_path else None
    for n in range(1000):
        name, recovery = names(n)
        claim = ckpt_dir / f".{name}.claim"
        if resumed is not None and resumed.parent.resolve() == ckpt_dir.resolve() and (
                resumed.name == recovery or re.fullmatch(re.escape(name) + r"-\d+_\d+\.ckpt", resumed.name)):
            claim.write_text(str(output_dir))  # the run it continues: its files are this run's
            return name, recovery, claim
    for n in range(1000):
        name, recovery = names(n)
        claim = ckpt_dir / f".{name}.claim"
        if ckpt_io.prefixed_checkpoints(ckpt_dir, name) or (ckpt_dir / recovery).exists():
            continue
        try:
            handle = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(handle, str(output_dir).encode())
        os.close(handle)
        return name, recovery, claim
    raise CheckpointError(f"{ckpt_dir} holds checkpoints of 1000 runs with prefix {prefix}; clean it up")


def checkpoint_bytes(train_network):
    """Size of one full-state checkpoint of ``train_network`` from its parameters (plus 1% and 1 MiB)."""
    return int(sum(int(p.nbytes) for p in train_network.get_parameters()) * 1.01) + (1 << 20)


class _Run:
    """What a run has built so far: summary.json is written from it whether the run completes, stops or fails."""

    def __init__(self):
        self.monitor = self.saver = self.eval_hook = self.resume_path = self.ckpt_dir = self.claim = None
        self.steps_per_epoch = 0
        self.start = time.time()
        self.record = {"status": "running", "error": None, "signal": None, "diverged": None,
                       "recovery_checkpoint": None, "skipped_files": None}

    def summary(self, recipe, cfg, ctx):
        return run_summary(recipe, cfg, ctx, self.monitor, self.saver, self.eval_hook, self.steps_per_epoch,
                           time.time() - self.start, self.resume_path, self.record)


def _write_summary(ctx, summary):
    if ctx.is_main:
        target = Path(ctx.output_dir) / "summary.json"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        Path(tmp).replace(target)


def _record_skipped(ctx, run):
    """Unusable files the data check skipped: once in the run log, and in summary.json."""
    from model_zoo.engine import verify

    skipped = verify.skipped_files()
    if skipped and run.record["skipped_files"] is None:
        for line in verify.skipped_lines():
            runtime.log_to_file(ctx.logger, line)
    if skipped:
        run.record["skipped_files"] = {"count": len(skipped),
                                       "files": [{"path": p, "reason": why} for p, why in skipped[:1000]]}


def _log_image_check(ctx):
    """One line per data folder: how many files the up-front image check read, or that the cache had them."""
    from model_zoo.engine import verify

    for root, stats in verify.STATS.items():
        if stats["checked"]:
            how = (f"{stats['checked']} checked in {stats['seconds']:.1f} s on {stats['processes']} process(es), "
                   f"cache updated")
        else:
            how = f"all in the check cache ({stats['seconds']:.1f} s)"
        waited = f", after waiting {stats['waited']:.1f} s for another process's check" if stats["waited"] > 0.5 else ""
        ctx.logger.info(f"image check: {root}: {stats['files']} file(s), {how}{waited}")


def train(recipe, cfg):
    """Run a training job.  Returns a summary dict (also written to summary.json, as is the end of a run that stops
    on a signal, diverges or fails)."""
    require_positive(cfg, "batch_size", "max_epoch")
    ctx = runtime.setup(cfg, "train")
    run = _Run()
    try:
        with signals.GracefulStop() as stop:
            return _train(recipe, cfg, ctx, run, stop)
    except BaseException as exc:
        _release(run)
        if isinstance(exc, signals.Interrupted):
            run.record.update(status="stopped", signal=signals.signal_name(exc.signum))
        elif isinstance(exc, KeyboardInterrupt):
            run.record.update(status="stopped", signal="SIGINT")
        else:
            run.record["status"] = "diverged" if isinstance(exc, TrainingDiverged) else "failed"
        text = (str(exc).strip().splitlines() or [""])[0]
        line = text if isinstance(exc, ZooError) else f"{exc.__class__.__name__}: {text}"
        run.record["error"] = line
        runtime.log_to_file(ctx.logger, f"{getattr(exc, 'prefix', 'error')}: {line}")
        if run.ckpt_dir is not None:
            ckpt_io.clean_partial(run.ckpt_dir, own_only=True)
        try:
            _record_skipped(ctx, run)
            _write_summary(ctx, run.summary(recipe, cfg, ctx))
        except Exception:  # noqa: BLE001 - the original error is what the user must see
            pass
        raise
    finally:
        ctx.close()


def _train(recipe, cfg, ctx, run, stop):
    import mindspore.dataset as ds

    logger = ctx.logger
    runtime.log_args(logger, cfg)
    amp_level = ctx.backend.check_amp(cfg.amp_level)
    lsm, opt_scale = loss_scale_manager(cfg, ctx.backend)
    cfg.loss_scale = opt_scale
    fmt = dict(ckpt_path=str(cfg.ckpt_path).rstrip("/"), output_dir=str(ctx.output_dir), rank=ctx.rank,
               datetime=ctx.stamp)
    ckpt_dir = run.ckpt_dir = Path(str(cfg.ckpt_dir_template).format(**fmt))
    saving = ctx.is_main or not int(cfg.is_save_on_master)
    if saving:
        for removed in ckpt_io.clean_partial(ckpt_dir):
            logger.info(f"removed {removed}, a temporary checkpoint file left by a run that did not finish")
    if ctx.is_main:
        try:
            save_config(cfg, ctx.output_dir)
        except OSError as exc:
            raise CheckpointError(f"cannot write to the run folder {ctx.output_dir}: "
                                  f"{ckpt_io.write_failure(exc, ctx.output_dir)}; pass a writable "
                                  f"{cfg.flag('ckpt_path')}") from None

    steps = accumulation_steps(cfg)

    def epoch_dataset(epoch_index, skip=0):
        ds.config.set_seed(int(cfg.seed) + epoch_index)
        dataset = whole_accumulations(recipe.dataset(cfg, True, ctx.rank, ctx.group_size), steps)
        return dataset.skip(skip) if skip else dataset

    first = epoch_dataset(0)
    _record_skipped(ctx, run)
    _log_image_check(ctx)
    steps_per_epoch = run.steps_per_epoch = first.get_dataset_size()
    logger.info(f"important: start create network ({cfg.arch or recipe.name}, {ctx.backend.name}, "
                f"{ctx.group_size} rank(s), {steps_per_epoch} steps/epoch, amp {amp_level})")
    net = recipe.network(cfg, "train")
    dropouts = rng.seed_dropout(net, int(cfg.seed), ctx.rank)  # reproducible, restorable dropout masks
    if dropouts:
        runtime.log_to_file(logger, f"dropout: {len(dropouts)} layer(s) draw their masks from (seed {cfg.seed}, "
                                    f"rank {ctx.rank}, step); the counters are saved in every checkpoint")
    if cfg.pre_trained:
        weights.into(net, recipe, cfg, cfg.pre_trained, what="--pre_trained checkpoint", fine_tune=True,
                     log=logger.info)
        logger.info(f"load model {cfg.pre_trained} success")
    lr = recipe.lr(cfg, steps_per_epoch // steps)  # one value per optimizer step
    plateau = cfg.get("lr_scheduler") == "plateau"
    optimizer = recipe.optimizer(cfg, net, np.float32(lr[0]) if plateau else lr)
    model = build_model(net, recipe.loss(cfg), optimizer, amp_level, lsm, steps)
    if steps > 1:
        logger.info(f"accumulation_steps {steps}: one optimizer step per {steps} batches of {cfg.batch_size} "
                    f"({steps * int(cfg.batch_size) * ctx.group_size} images)")
    if saving:  # before the first step: room for one checkpoint and its temporary copy
        ckpt_io.check_room(ckpt_dir, 2 * checkpoint_bytes(model.train_network), cfg.flag("ckpt_path"))

    state = TrainState(steps_per_epoch, int(cfg.max_epoch))
    resume_path = find_resume_checkpoint(cfg, logger) if cfg.resume else None
    if resume_path is not None and str(cfg.resume).lower() != "auto" and \
            not weights.for_path(recipe, cfg, resume_path).training_state:
        logger.info(f"note: --resume {resume_path} is not a zoo training state (no optimizer state and epoch/step of "
                    f"this zoo): starting from its weights at epoch 1")
        weights.into(net, recipe, cfg, resume_path, what="--resume checkpoint", log=logger.info)
        resume_path = None
    run.resume_path = resume_path
    if resume_path is not None:
        state.resume_at(restore(model.train_network, resume_path))
        note = rng.restore(dropouts, rng.read_state(resume_path), state.global_step)
        if note:
            logger.info(f"resume: {note}")
        logger.info(f"resumed from {resume_path}: epoch {state.epoch} step {state.step_in_epoch} "
                    f"(global step {state.global_step} of {state.total_steps})")
    else:
        start_at_epoch(cfg, state, optimizer, steps, logger)

    meta = checkpoint_metadata(recipe, cfg, first)  # in every checkpoint, best.ckpt included
    base_prefix = str(cfg.ckpt_prefix).format(**fmt)
    prefix, recovery, best = base_prefix, "recovery.ckpt", "best.ckpt"
    if saving:
        prefix, recovery, run.claim = checkpoint_names(ckpt_dir, base_prefix, ctx.output_dir, resume_path)
        if prefix != base_prefix:
            best = f"best{recovery[len('recovery'):]}"
            logger.info(f"{ckpt_dir} holds another run's checkpoints: this run writes {prefix}-<epoch>_<step>.ckpt, "
                        f"{recovery} and {best}")
    eval_hook = None
    if cfg.run_eval:
        eval_hook = run.eval_hook = EvalDuringTraining(recipe, cfg, ctx, net, ckpt_dir / best if saving and
                                                       cfg.save_best_ckpt else None, meta=meta)
        if resume_path is not None:
            eval_hook.resume_best(resume_path, state.global_step)
    monitor = run.monitor = TrainMonitor(recipe, cfg, ctx, state, CurrentLR(lr, steps, optimizer if plateau else None),
                                         eval_hook=eval_hook)
    callbacks = [StepCounter(state), monitor] + ([plateau_callback(cfg, monitor, optimizer)] if plateau else [])
    saver = None
    if saving:
        saver = run.saver = CheckpointSaver(
            ckpt_dir, prefix, state, cfg.ckpt_interval, cfg.ckpt_interval_unit,
            cfg.keep_checkpoint_max, cfg.recovery_interval, extra=meta, log=logger.info,
            extra_fn=(lambda: {rng.STATE_KEY: rng.state(dropouts)}) if dropouts else None, recovery_name=recovery)
        callbacks.append(saver)
    callbacks.append(StopOnSignal(state, stop))
    sink = bool(cfg.get("dataset_sink_mode", False)) and ctx.backend.dataset_sink
    logger.info("start network train...")
    start = time.time()
    with runtime.profiling(cfg, ctx.output_dir, logger):
        for epoch_index in range(state.global_step // steps_per_epoch, state.max_epoch):
            if stop.requested:
                break
            skip = state.global_step - epoch_index * steps_per_epoch
            dataset = first if (epoch_index == 0 and not skip) else epoch_dataset(epoch_index, skip)
            model.train(epoch_index + 1, dataset, callbacks=callbacks, dataset_sink_mode=sink,
                        initial_epoch=epoch_index)
            _record_skipped(ctx, run)
            if state.diverged is not None:
                raise TrainingDiverged(divergence_message(cfg, state, ctx.output_dir, amp_level))
    if stop.requested and state.global_step < state.total_steps:
        _stop_with_recovery(cfg, ctx, run, state, stop, saver, model, ckpt_dir)
    wall = time.time() - start
    logger.info("end network train...")
    run.record["status"] = "completed"
    summary = run.summary(recipe, cfg, ctx)
    summary["wall_time_s"] = round(wall, 3)
    _write_summary(ctx, summary)
    _release(run)
    logger.info(f"training done in {wall:.1f} s; outputs in {_absolute(ctx.output_dir)}")
    return summary


def _release(run):
    """Drop the claim on a shared checkpoint folder's prefix (its checkpoints keep later runs off it)."""
    if run.claim is not None:
        try:
            run.claim.unlink()
        except OSError:
            pass
        run.claim = None


def _stop_with_recovery(cfg, ctx, run, state, stop, saver, model, ckpt_dir):
    """After SIGTERM / SIGINT: the state after the last finished step in recovery.ckpt (atomic), one line naming it
    and the resume command, exit 143 / 130 (:class:`signals.Interrupted`)."""
    signum = stop.signum
    name = signals.signal_name(signum)
    where = (f"epoch {state.epoch} step {state.step_in_epoch} (global step {state.global_step} of "
             f"{state.total_steps})")
    if saver is None:
        raise signals.Interrupted(f"{name} at {where}; rank 0 writes the recovery checkpoint", signum)
    if saver.saved and saver.last_saved_step == state.global_step:
        path = saver.saved[-1]  # a checkpoint of exactly this step was just written
    else:
        path = saver.save_named(model.train_network, ckpt_dir / saver.recovery_name)
    if path is None:
        raise signals.Interrupted(f"{name} at {where}; no recovery checkpoint (the weights are not finite)", signum)
    run.record["recovery_checkpoint"] = _absolute(path)
    raise signals.Interrupted(f"{name} at {where}: saved {path}; resume with: {resume_command(cfg, path)}",
                              signum)
