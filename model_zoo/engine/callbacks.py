"""Training callbacks: upstream log lines, progress with ETA, per-epoch CSV, atomic checkpoints."""
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
from mindspore.train.callback import Callback

from model_zoo.engine import checkpoint as ckpt_io

CSV_FIELDS = ("epoch", "step", "loss", "mean_loss", "lr", "epoch_time_s", "imgs_per_sec", "top1", "top5")


def loss_value(net_outputs):
    """The scalar loss from a train step's outputs (a Tensor, or (loss, overflow, scale) with loss scaling)."""
    out = net_outputs[0] if isinstance(net_outputs, (tuple, list)) else net_outputs
    return float(np.mean(out.asnumpy()))


def _hms(seconds):
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class TrainMonitor(Callback):
    """Prints the recipe's epoch lines, shows progress (steps, img/s, ETA) and appends metrics.csv rows."""

    def __init__(self, recipe, cfg, ctx, lr_values, steps_per_epoch, first_epoch=1, eval_hook=None):
        super().__init__()
        self.recipe, self.cfg, self.ctx = recipe, cfg, ctx
        self.lr_values = lr_values
        self.steps_per_epoch = steps_per_epoch
        self.global_batch = int(cfg.batch_size) * ctx.group_size
        self.log_interval = max(1, int(cfg.log_interval))
        self.tty = sys.stderr.isatty() and ctx.is_main
        self.csv_path = Path(ctx.output_dir) / "metrics.csv"
        self.eval_hook = eval_hook
        self.first_epoch = first_epoch
        self.history = []
        self._losses = []

    def on_train_begin(self, run_context):
        self.train_start = time.time()
        self.ctx.logger.info("start network train...")
        if self.ctx.is_main and not self.csv_path.exists():
            with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(CSV_FIELDS)

    def on_train_epoch_begin(self, run_context):
        self.epoch_start = time.time()
        self._losses = []

    def on_train_step_end(self, run_context):
        params = run_context.original_args()
        loss = loss_value(params.net_outputs)
        self._losses.append(loss)
        step_in_epoch = (params.cur_step_num - 1) % self.steps_per_epoch + 1
        elapsed = time.time() - self.epoch_start
        rate = self.global_batch * step_in_epoch / max(elapsed, 1e-9)
        remaining_steps = (params.epoch_num - params.cur_epoch_num) * self.steps_per_epoch + \
            (self.steps_per_epoch - step_in_epoch)
        eta = remaining_steps * elapsed / step_in_epoch
        line = (f"epoch {params.cur_epoch_num}/{params.epoch_num} step {step_in_epoch}/{self.steps_per_epoch} "
                f"loss {loss:.4f} {rate:.1f} img/s ETA {_hms(eta)}")
        if self.tty:
            sys.stderr.write("\r" + line + " " * 8)
            sys.stderr.flush()
        elif step_in_epoch % self.log_interval == 0 and step_in_epoch != self.steps_per_epoch:
            self.ctx.logger.info(line)
        if not math.isfinite(loss):
            self.ctx.logger.info(f"loss became {loss} at epoch {params.cur_epoch_num} step {step_in_epoch}; "
                                 f"lower --lr or check the data")
            run_context.request_stop()

    def on_train_epoch_end(self, run_context):
        params = run_context.original_args()
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        epoch_time = time.time() - self.epoch_start
        steps = len(self._losses) or 1
        stats = dict(epoch=params.cur_epoch_num, steps=self.steps_per_epoch, global_step=params.cur_step_num,
                     loss=self._losses[-1] if self._losses else float("nan"), mean_loss=float(np.mean(self._losses)),
                     epoch_time_ms=epoch_time * 1000.0, per_step_ms=epoch_time * 1000.0 / steps,
                     fps=self.global_batch * steps / max(epoch_time, 1e-9),
                     lr=float(self.lr_values[min(params.cur_step_num, len(self.lr_values)) - 1]),
                     iter=params.cur_step_num - 1, real_epoch=(params.cur_step_num - 1) // self.steps_per_epoch)
        for line in self.recipe.epoch_lines(self.cfg, stats):
            self.ctx.logger.info(line)
        metrics = self.eval_hook(params) if self.eval_hook else {}
        row = dict(epoch=stats["epoch"], step=stats["global_step"], loss=f"{stats['loss']:.6f}",
                   mean_loss=f"{stats['mean_loss']:.6f}", lr=f"{stats['lr']:.8g}",
                   epoch_time_s=f"{epoch_time:.3f}", imgs_per_sec=f"{stats['fps']:.2f}",
                   top1=metrics.get("top1", ""), top5=metrics.get("top5", ""))
        self.history.append(row)
        if self.ctx.is_main:
            with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, CSV_FIELDS).writerow(row)

    def on_train_end(self, run_context):
        self.ctx.logger.info("end network train...")


class CheckpointSaver(Callback):
    """Saves ``<prefix>-<epoch>_<step>.ckpt`` every N epochs or steps and at the end (network + optimizer state,
    epoch and step inside the file), atomically and with a CRC; keeps the newest ``keep_checkpoint_max``."""

    def __init__(self, directory, prefix, interval, unit, keep_max, steps_per_epoch, logger, extra=None):
        super().__init__()
        self.directory = Path(directory)
        self.prefix = prefix
        self.interval = max(1, int(interval))
        self.unit = unit
        self.keeper = ckpt_io.CheckpointKeeper(keep_max)
        self.steps_per_epoch = steps_per_epoch
        self.logger = logger
        self.extra = dict(extra or {})
        self.last_saved_step = -1
        self.saved = []

    def _save(self, params):
        step_in_epoch = (params.cur_step_num - 1) % self.steps_per_epoch + 1
        path = self.directory / f"{self.prefix}-{params.cur_epoch_num}_{step_in_epoch}.ckpt"
        append = dict(self.extra, epoch_num=int(params.cur_epoch_num), step_num=int(params.cur_step_num))
        ckpt_io.save(params.train_network, path, append_dict=append)
        self.keeper.add(path)
        self.saved.append(path)
        self.last_saved_step = params.cur_step_num
        return path

    def on_train_step_end(self, run_context):
        params = run_context.original_args()
        if self.unit == "step" and params.cur_step_num % self.interval == 0:
            self._save(params)

    def on_train_epoch_end(self, run_context):
        params = run_context.original_args()
        last = params.cur_epoch_num == params.epoch_num
        due = self.unit == "epoch" and params.cur_epoch_num % self.interval == 0
        if (due or last) and self.last_saved_step != params.cur_step_num:
            self._save(params)
