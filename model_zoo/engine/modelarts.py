"""ModelArts plumbing (``enable_modelarts=True``), as the upstream ``moxing_adapter`` but testable locally.

Before the task: ``data_url -> data_path`` and ``checkpoint_url -> load_path`` are synced, and the dataset zip
``data_path/<modelarts_dataset_unzip_name>.zip`` is extracted (``need_modelarts_dataset_unzip``), each once per node
by its first device while the others wait on a lock file that names the job (``JOB_ID``, else the launcher process
the job's ranks share) and the working process: another job's lock is never trusted, a dead worker's is reported at
once.  Every output path (``ckpt_path``, ``log_path``, ``file_name``) stays under ``output_path``.  After the task,
also after a failure or SIGTERM: ``output_path -> train_url``.  ``moxing`` copies when it is installed (on ModelArts);
otherwise plain local paths are copied, which is how the tests run it.
"""
import json
import os
import shutil
import socket
import time
import zipfile
from pathlib import Path

from model_zoo.engine.errors import DataError


def _device_env():
    device_id = int(os.environ.get("DEVICE_ID", 0))
    device_num = int(os.environ.get("RANK_SIZE", 1))
    return device_id, device_num


def is_first_device_on_node():
    device_id, device_num = _device_env()
    return device_id % min(max(device_num, 1), 8) == 0


def _start_time(pid):
    """A process's start time (clock ticks since boot, from /proc), '' where unknown: with the pid it names one
    process even after pids are reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _token():
    """What the ranks of one job on one node share: ModelArts' JOB_ID, else the launcher process that started them
    (msrun, mpirun's daemon, the rank-table launcher): its host, pid and start time."""
    if os.environ.get("JOB_ID"):
        return f"job {os.environ['JOB_ID']}"
    parent = os.getppid()
    return f"launcher {socket.gethostname()}:{parent}:{_start_time(parent)}"


def _write_lock(lock, state, detail=""):
    lock.parent.mkdir(parents=True, exist_ok=True)
    tmp = lock.with_name(f"{lock.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"token": _token(), "state": state, "host": socket.gethostname(), "pid": os.getpid(),
                               "time": time.time(), "detail": detail}))
    os.replace(tmp, lock)


def _read_lock(lock):
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, TypeError):
        return True
    return True


def once_per_node(name, action, lock_dir, timeout=3600, poll=0.2, log=print):
    """Run ``action`` on the node's first device; the other devices wait for its lock file.

    The lock names the job (``JOB_ID``, or the launcher process shared by the job's ranks) and the process that
    works.  A lock of another job is stale (an earlier run's): never trusted.  A lock of this job whose process is
    gone (same host) means the first device died: the others stop at once instead of waiting out ``timeout``."""
    lock = Path(lock_dir) / f".{name}.lock"
    if is_first_device_on_node():
        _write_lock(lock, "running")
        try:
            result = action()
        except BaseException as exc:
            _write_lock(lock, "failed", str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__)
            raise
        _write_lock(lock, "done")
        return result
    token, noted = _token(), False
    deadline = time.time() + timeout
    while time.time() < deadline:
        entry = _read_lock(lock)
        if entry and entry.get("token") == token:
            if entry.get("state") == "done":
                return None
            if entry.get("state") == "failed":
                raise DataError(f"the first device of this node failed to {name}: {entry.get('detail')} ({lock})")
            if entry.get("host") == socket.gethostname() and not _alive(entry.get("pid")):
                raise DataError(f"the first device of this node (pid {entry.get('pid')}) died during {name}; its "
                                f"lock {lock} is stale: restart the job")
        elif entry and not noted:
            log(f"ModelArts: ignoring {lock} of another job ({entry.get('token')}); waiting for this job's first "
                f"device")
            noted = True
        time.sleep(poll)
    raise DataError(f"timed out after {timeout}s waiting for the first device to finish {name} ({lock})")


def copy(src, dst):
    """moxing.file.copy_parallel when available, else a local copy (file or folder)."""
    try:
        import moxing as mox  # pylint: disable=import-error
    except ImportError:
        mox = None
    if mox is not None:
        mox.file.copy_parallel(src_url=str(src), dst_url=str(dst))
        return
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise DataError(f"ModelArts source {src} does not exist; check data_url / checkpoint_url / output_path")
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def unzip(zip_path, target_dir, log=print):
    """Upstream unzip step with its progress lines."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise DataError(f"{zip_path} not found; set modelarts_dataset_unzip_name or need_modelarts_dataset_unzip=False")
    start = time.time()
    log("Extract Start...")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        log(f"unzip file num: {len(names)}")
        step = max(1, len(names) // 10)
        for i, name in enumerate(names, 1):
            archive.extract(name, target_dir)
            if i % step == 0 or i == len(names):
                log(f"unzip percent: {int(100 * i / len(names))}%")
    cost = time.time() - start
    log(f"cost time: {int(cost // 60)}min:{int(cost % 60)}s.")
    log("Extract Done.")


def inside(output_path, value, flag, log=print):
    """``value`` under ``output_path`` (what ModelArts copies to train_url): a relative path is joined to it; an
    absolute one, or one whose ``..`` leaves it, is moved under it (with a note)."""
    output_path = Path(os.path.normpath(output_path))
    joined = Path(os.path.normpath(output_path / str(value)))
    if joined == output_path or output_path in joined.parents:
        return joined
    parts = [part for part in Path(str(value)).parts if part not in (Path(str(value)).anchor, "..", ".")]
    moved = output_path.joinpath(*parts) if parts else output_path
    log(f"ModelArts: {flag} {value} is outside output_path {output_path} (which is copied to train_url); "
        f"writing to {moved}")
    return moved


def pre_process(cfg, log=print):
    """Sync inputs and point the run at the local copies.  No-op unless ``enable_modelarts``."""
    if not cfg.get("enable_modelarts"):
        return
    data_path, load_path, output_path = Path(cfg.data_path), Path(cfg.load_path), Path(cfg.output_path)
    lock_dir = output_path
    if cfg.data_url:
        once_per_node("copy_sync", lambda: copy(cfg.data_url, data_path), lock_dir, log=log)
    if cfg.checkpoint_url:
        once_per_node("ckpt_sync", lambda: copy(cfg.checkpoint_url, load_path), lock_dir, log=log)
    output_path.mkdir(parents=True, exist_ok=True)
    name = str(cfg.get("modelarts_dataset_unzip_name") or "")
    if cfg.get("need_modelarts_dataset_unzip") and name:
        def extract():
            if not (data_path / name).is_dir():
                unzip(data_path / f"{name}.zip", data_path, log)
        once_per_node("unzip_sync", extract, lock_dir, log=log)
        cfg.data_dir = str(data_path / name)
    else:
        cfg.data_dir = str(data_path)
    for key in ("ckpt_path", "log_path"):
        if key in cfg:
            cfg[key] = str(inside(output_path, cfg[key], f"--{key}", log))
    for key in ("pre_trained", "ckpt_file", "resume"):
        value = str(cfg.get(key) or "")
        if value and value != "auto" and not os.path.isabs(value):
            cfg[key] = str(load_path / value)
    if cfg.get("file_name"):
        cfg.file_name = str(inside(output_path, cfg.file_name, "--file_name", log))


def post_process(cfg):
    """Copy the outputs back to ``train_url`` (first device of each node): at the end of a run, and after a failure
    or SIGTERM (the recovery checkpoint of a preempted job is then in train_url)."""
    if cfg.get("enable_modelarts") and cfg.get("train_url") and is_first_device_on_node():
        copy(cfg.output_path, cfg.train_url)
