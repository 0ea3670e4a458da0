"""Run set-up shared by train / eval / export: device, distribution, seeds, output folder, logger."""
import contextlib
import datetime
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from model_zoo.engine.device import get_backend, rank_info


@dataclass
class RunContext:
    backend: object
    rank: int
    group_size: int
    device_id: int
    output_dir: Path
    logger: logging.Logger
    stamp: str

    @property
    def is_main(self):
        return self.rank == 0


LOG_FORMAT = "%(asctime)s:%(levelname)s:%(message)s"  # upstream src/utils/logging.py


def _logger(output_dir, rank, stamp, to_file=True, console_format="%(message)s"):
    logger = logging.getLogger(f"model_zoo.run.{rank}.{stamp}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if rank % 8 == 0:  # upstream: console output on the first rank of each server
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter(console_format or "%(message)s"))
        logger.addHandler(console)
    if to_file:
        output_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(output_dir / f"{stamp}_rank_{rank}.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
    return logger


def init_distributed(backend, cfg):
    """``communication.init`` with the backend's library, data-parallel context, identical starting weights."""
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init(backend.comm_backend)
    rank, size = get_rank(), get_group_size()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=size, parameter_broadcast=True)
    return rank, size


def setup(cfg, task, output_root_key="ckpt_path", to_file=True):
    """Prepare MindSpore for a run and return a :class:`RunContext`.  Sets cfg.rank / cfg.group_size."""
    import mindspore as ms
    import mindspore.dataset as ds

    backend = get_backend(cfg.device_target)
    cfg.device_target = backend.name
    env_rank, env_size, env_dev = rank_info(backend)
    device_id = env_dev if "DEVICE_ID" in os.environ else int(cfg.device_id)
    backend.setup_context(cfg.mode, device_id, cfg.get("jit_level", ""))
    for key, value in backend.extra_env.items():
        os.environ.setdefault(key, value)
    if int(cfg.is_distributed):
        rank, size = init_distributed(backend, cfg)
    else:
        rank, size = 0, 1
    cfg.rank, cfg.group_size = rank, size
    ms.set_seed(int(cfg.seed))
    ds.config.set_seed(int(cfg.seed))
    stamp = os.environ.get("MODEL_ZOO_RUN_STAMP") or datetime.datetime.now().strftime("%Y-%m-%d_time_%H_%M_%S")
    root = str(cfg.get(output_root_key) or "outputs/")
    output_dir = Path(str(cfg.output_dir_template).format(ckpt_path=root.rstrip("/"), log_path=root.rstrip("/"),
                                                          datetime=stamp, rank=rank, task=task))
    logger = _logger(output_dir, rank, stamp, to_file=to_file, console_format=cfg.get("console_log_format"))
    logger.info(sys.modules["model_zoo"].CPU_ENV_SUMMARY)  # CPU setting chosen before MindSpore loaded
    return RunContext(backend, rank, size, device_id, output_dir, logger, stamp)


def log_args(logger, cfg):
    """Upstream ``save_args``: 'Args:' then one '--> key: value' line per key (file log only)."""
    lines = ["Args:"] + [f"--> {key}: {cfg[key]}" for key in sorted(cfg)]
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            for line in lines:
                handler.emit(logging.LogRecord(logger.name, logging.INFO, __file__, 0, line, None, None))


@contextlib.contextmanager
def profiling(cfg, output_dir, logger):
    """Upstream ``enable_profiling``: run the task under MindSpore's Profiler and analyse the profile at the end
    (into ``<output_dir>/profiler``)."""
    if not cfg.get("enable_profiling"):
        yield None
        return
    import mindspore as ms

    target = Path(output_dir) / "profiler"
    profiler = ms.Profiler(output_path=str(target))
    logger.info(f"enable_profiling: MindSpore Profiler on, profile in {target}")
    try:
        yield profiler
    finally:
        profiler.analyse()
        logger.info(f"profile written to {target}")
