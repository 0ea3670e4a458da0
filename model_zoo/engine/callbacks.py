"""Training callbacks: step bookkeeping, upstream log lines, progress with ETA, per-epoch CSV, checkpoints.

The trainer calls ``Model.train`` once per epoch (each epoch gets its own, seeded data pipeline so a resumed run
sees exactly the batches the interrupted one would have), so the global position lives in :class:`TrainState`
rather than in MindSpore's per-call step counters.
"""
import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mindspore.train.callback import Callback

from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.progress import Progress

CSV_FIELDS = ("epoch", "step", "loss", "mean_loss", "lr", "epoch_time_s", "imgs_per_sec", "top1", "top5")


@dataclass
class TrainState:
    """Where training is: 1-based epoch, steps done in it, and steps done overall."""

    steps_per_epoch: int
    max_epoch: int
    epoch: int = 1
    step_in_epoch: int = 0
    global_step: int = 0
    losses: list = field(default_factory=list)
    epoch_start: float = 0.0
    diverged: dict = None          # {'epoch', 'step', 'global_step', 'loss'} of the first non-finite loss
    stop_signal: int = None        # SIGTERM / SIGINT that stopped the run after its current step

    def resume_at(self, global_step):
        self.global_step = int(global_step)
        self.epoch = self.global_step // self.steps_per_epoch + 1
        self.step_in_epoch = self.global_step % self.steps_per_epoch

    @property
    def epoch_done(self):
        return self.step_in_epoch == self.steps_per_epoch

    @property
    def total_steps(self):
        return self.steps_per_epoch * self.max_epoch


def loss_value(net_outputs):
    """The scalar loss from a train step's outputs (a Tensor, or (loss, overflow, scale) with loss scaling)."""
    out = net_outputs[0] if isinstance(net_outputs, (tuple, list)) else net_outputs
    return float(np.mean(out.asnumpy()))


class StepCounter(Callback):
    """Keeps :class:`TrainState` current; runs first so every other callback sees the new position."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def on_train_epoch_begin(self, run_context):
        self.state.epoch = run_context.original_args().cur_epoch_num
        self.state.epoch_start = time.time()
        self.state.losses = []

    def on_train_step_end(self, run_context):
        state = self.state
        state.global_step += 1
        state.step_in_epoch = state.global_step - (state.epoch - 1) * state.steps_per_epoch
        state.losses.append(loss_value(run_context.original_args().net_outputs))


class TrainMonitor(Callback):
    """Prints the recipe's epoch lines, shows progress (steps, img/s, ETA) and appends metrics.csv rows."""

    def __init__(self, recipe, cfg, ctx, state, lr_values, eval_hook=None):
        super().__init__()
        self.recipe, self.cfg, self.ctx, self.state = recipe, cfg, ctx, state
        self.lr_values = lr_values
        self.global_batch = int(cfg.batch_size) * ctx.group_size
        self.log_interval = max(1, int(cfg.log_interval))
        self.progress = Progress(state.total_steps, ctx.logger, live=sys.stderr.isatty() and ctx.is_main)
        self._images = 0
        self.csv_path = Path(ctx.output_dir) / "metrics.csv"
        self.eval_hook = eval_hook
        self.history = []
        self.curves_path = None
        self._seen_in_call = 0
        if ctx.is_main and not self.csv_path.exists():
            with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(CSV_FIELDS)

    def on_train_epoch_begin(self, run_context):
        self._seen_in_call = 0

    def on_train_step_end(self, run_context):
        state = self.state
        self._seen_in_call += 1
        self._images += self.global_batch
        loss = state.losses[-1]
        line = (f"epoch {state.epoch}/{state.max_epoch} step {state.step_in_epoch}/{state.steps_per_epoch} "
                f"loss {loss:.4f} {self.progress.measure(state.global_step, self._images)}")
        self.progress.show(line, due=state.step_in_epoch % self.log_interval == 0 and not state.epoch_done)
        if not math.isfinite(loss) and state.diverged is None:
            state.diverged = dict(epoch=state.epoch, step=state.step_in_epoch, global_step=state.global_step,
                                  loss=loss)
            run_context.request_stop()

    def on_train_epoch_end(self, run_context):
        state = self.state
        self.progress.clear()
        if not state.epoch_done:  # stopped mid-epoch (signal, divergence): no epoch lines, no metrics row
            return
        epoch_time = time.time() - state.epoch_start
        steps = max(1, self._seen_in_call)
        stats = dict(epoch=state.epoch, steps=state.steps_per_epoch, global_step=state.global_step,
                     loss=state.losses[-1] if state.losses else float("nan"),
                     mean_loss=float(np.mean(state.losses)) if state.losses else float("nan"),
                     epoch_time_ms=epoch_time * 1000.0, per_step_ms=epoch_time * 1000.0 / steps,
                     fps=self.global_batch * steps / max(epoch_time, 1e-9),
                     lr=float(self.lr_values[min(state.global_step, len(self.lr_values)) - 1]),
                     iter=state.global_step - 1, real_epoch=(state.global_step - 1) // state.steps_per_epoch)
        for line in self.recipe.epoch_lines(self.cfg, stats):
            self.ctx.logger.info(line)
        metrics = self.eval_hook(state) if self.eval_hook else {}
        row = dict(epoch=stats["epoch"], step=stats["global_step"], loss=f"{stats['loss']:.6f}",
                   mean_loss=f"{stats['mean_loss']:.6f}", lr=f"{stats['lr']:.8g}",
                   epoch_time_s=f"{epoch_time:.3f}", imgs_per_sec=f"{stats['fps']:.2f}",
                   top1=metrics.get("top1", ""), top5=metrics.get("top5", ""))
        self.history.append(row)
        if self.ctx.is_main:
            with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, CSV_FIELDS).writerow(row)
            self.draw_curves()

    def draw_curves(self):
        """Refresh curves.png from metrics.csv; a plotting failure is logged, never fatal."""
        from model_zoo.engine.plots import failure, plot_curves, read_metrics

        try:
            self.curves_path = plot_curves({self.cfg.arch or self.recipe.name: read_metrics(self.csv_path)},
                                           Path(self.ctx.output_dir) / "curves.png")
        except Exception as exc:  # never let a picture stop training
            self.ctx.logger.info(failure("curves.png", exc))
            self.curves_path = None


class CheckpointSaver(Callback):
    """Saves ``<prefix>-<epoch>_<step>.ckpt`` every N epochs or steps and at the end, plus ``recovery.ckpt``
    every ``recovery_interval`` steps.  Each file holds network + optimizer state and, inside, the epoch and
    global step; writes are atomic and CRC-protected; the newest ``keep_checkpoint_max`` are kept (counting the
    ``<prefix>-*`` checkpoints already in the folder, so the limit holds across a resume)."""

    def __init__(self, directory, prefix, state, interval, unit, keep_max, recovery_interval=0, extra=None,
                 extra_fn=None, log=None, recovery_name="recovery.ckpt"):
        super().__init__()
        self.recovery_name = recovery_name
        self.extra_fn = extra_fn  # entries computed at each save (the dropout counters: rng.state)
        self.log = log or (lambda line: None)
        self.directory = Path(directory)
        self.prefix = prefix
        self.state = state
        self.interval = max(1, int(interval))
        self.unit = unit
        self.recovery_interval = int(recovery_interval)
        # counts the same-prefix checkpoints already in the folder (a resumed run writing where it left off)
        self.keeper = ckpt_io.CheckpointKeeper(keep_max, self.directory, prefix)
        self.extra = dict(extra or {})
        self.last_saved_step = -1
        self.saved = []

    def _append(self):
        return dict(self.extra, **(self.extra_fn() if self.extra_fn else {}), epoch_num=int(self.state.epoch),
                    step_num=int(self.state.global_step), zoo_step_in_epoch=int(self.state.step_in_epoch))

    def save_named(self, network, path):
        """Write ``path``; never a model whose loss or weights are not finite (logged, returns None)."""
        if self.state.diverged is not None:
            self.log(f"not saving {path.name}: the loss became {self.state.diverged['loss']} at global step "
                     f"{self.state.diverged['global_step']}")
            return None
        try:
            ckpt_io.save(network, path, append_dict=self._append(), require_finite=True)
        except ckpt_io.NonFiniteCheckpoint as exc:
            self.log(f"not saving: {exc}")
            return None
        return path

    def _save(self, network):
        path = self.directory / f"{self.prefix}-{self.state.epoch}_{self.state.step_in_epoch}.ckpt"
        if self.save_named(network, path) is None:
            return None
        self.keeper.add(path)
        self.saved.append(path)
        self.last_saved_step = self.state.global_step
        return path

    def existing(self):
        """The checkpoints this saver wrote that are still on disk (keep_checkpoint_max removes the oldest)."""
        return [path for path in dict.fromkeys(self.saved) if path.is_file()]

    def on_train_step_end(self, run_context):
        network = run_context.original_args().train_network
        if self.unit == "step" and self.state.global_step % self.interval == 0:
            self._save(network)
        if self.recovery_interval and self.state.global_step % self.recovery_interval == 0 \
                and not self.state.epoch_done:
            self.save_named(network, self.directory / self.recovery_name)

    def on_train_epoch_end(self, run_context):
        state = self.state
        if not state.epoch_done:  # stopped mid-epoch: the trainer writes recovery.ckpt itself
            return
        last = state.epoch == state.max_epoch
        due = self.unit == "epoch" and state.epoch % self.interval == 0
        if (due or last) and self.last_saved_step != state.global_step:
            self._save(run_context.original_args().train_network)


class StopOnSignal(Callback):
    """Ends ``Model.train`` after the step during which SIGTERM / SIGINT arrived (:class:`signals.GracefulStop`)."""

    def __init__(self, state, stop):
        super().__init__()
        self.state = state
        self.stop = stop

    def on_train_step_end(self, run_context):
        if self.stop.requested:
            self.state.stop_signal = self.stop.signum
            run_context.request_stop()
