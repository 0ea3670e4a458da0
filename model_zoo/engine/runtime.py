"""Run set-up shared by train / eval / export: device, distribution, seeds, output folder, logger."""
import contextlib
import datetime
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from model_zoo.engine.device import get_backend, rank_info
from model_zoo.engine.errors import ZooError


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

    def close(self):
        """End of the run (done, failed or stopped by a signal): flush and close its log file."""
        close_logger(self.logger)


LOG_FORMAT = "%(asctime)s:%(levelname)s:%(message)s"  # upstream src/utils/logging.py


def _logger(output_dir, rank, stamp, to_file=True, console_format="%(message)s"):
    """The run's logger: the console on the first rank of each server, ``<stamp>_rank_<rank>.log`` on every rank.
    Its handlers live until :func:`close_logger` (``RunContext.close``) at the end of the run."""
    name = f"model_zoo.run.{rank}.{stamp}"
    close_logger(logging.getLogger(name))  # an earlier run of this process with this name (a fixed folder) ended
    logger = logging.getLogger(name)
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


def close_logger(logger):
    """Detach and close every handler of ``logger`` (its log file is complete and no longer open)."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logging.Logger.manager.loggerDict.pop(logger.name, None)  # one logger per run, not one per run per process


def log_to_file(logger, *lines):
    """Lines for the run log file only (the console already shows them, or they are too long for it)."""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            for line in lines:
                handler.emit(logging.LogRecord(logger.name, logging.INFO, __file__, 0, line, None, None))


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

    def folder(name):
        return Path(str(cfg.output_dir_template).format(ckpt_path=root.rstrip("/"), log_path=root.rstrip("/"),
                                                        datetime=name, rank=rank, task=task))

    if to_file:
        # a resumed run may go on in the folder MODEL_ZOO_RUN_STAMP names; any other run gets a folder of its own
        reuse = bool(os.environ.get("MODEL_ZOO_RUN_STAMP")) and bool(cfg.get("resume"))
        stamp = agree_on_stamp(claim_run_folder(folder, stamp, reuse, cfg.flag(output_root_key))
                               if rank == 0 else "", size)
        if rank != 0:
            _make_folder(folder(stamp), cfg.flag(output_root_key), exist_ok=True)
    output_dir = folder(stamp)
    logger = _logger(output_dir, rank, stamp, to_file=to_file, console_format=cfg.get("console_log_format"))
    logger.info(sys.modules["model_zoo"].CPU_ENV_SUMMARY)  # CPU setting chosen before MindSpore loaded
    return RunContext(backend, rank, size, device_id, output_dir, logger, stamp)


def _make_folder(path, flag, exist_ok=False):
    """mkdir (parents too); a folder that cannot be created is one line naming it and the cause."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as exc:
        raise ZooError(f"cannot create the run folder {path} ({exc.strerror or exc}); pass a writable {flag}") from None
    return path


def claim_run_folder(folder, stamp, reuse=False, flag="--ckpt_path"):
    """Create the run folder ``folder(stamp)`` atomically and exclusively (``mkdir`` fails when it exists, on one
    machine or on shared storage); when another run holds it, ``<stamp>_1``, ``<stamp>_2`` ...  Returns the stamp.
    A template without ``{datetime}`` names one fixed folder, which runs then share (the user's choice)."""
    if folder("a") == folder("b"):
        _make_folder(folder(stamp), flag, exist_ok=True)
        return stamp
    for index in range(10000):
        name = stamp if index == 0 else f"{stamp}_{index}"
        try:
            _make_folder(folder(name), flag, exist_ok=reuse and index == 0)
        except FileExistsError:
            continue
        return name
    raise ZooError(f"no free run folder next to {folder(stamp)} (tried 10000 names); clean up its parent folder")


def agree_on_stamp(stamp, size):
    """Rank 0's stamp on every rank (the ranks of one job write into one run folder): its characters are summed over
    the ranks with ``all_reduce``, the other ranks contributing zeros."""
    if size <= 1:
        return stamp
    import numpy as np
    import mindspore as ms
    from mindspore.ops.communication import all_reduce

    codes = np.zeros(256, np.int32)
    raw = stamp.encode("utf-8")[:256]
    codes[:len(raw)] = np.frombuffer(raw, np.uint8)
    tensor = ms.Tensor(codes)
    all_reduce(tensor)
    return bytes(int(v) for v in tensor.asnumpy() if v).decode("utf-8")


def log_args(logger, cfg):
    """Upstream ``save_args``: 'Args:' then one '--> key: value' line per key (file log only)."""
    log_to_file(logger, "Args:", *[f"--> {key}: {cfg[key]}" for key in sorted(cfg)])


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
