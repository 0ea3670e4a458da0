"""ModelArts plumbing (``enable_modelarts=True``), as the upstream ``moxing_adapter`` but testable locally.

Before the task: ``data_url -> data_path`` and ``checkpoint_url -> load_path`` are synced, and the dataset zip
``data_path/<modelarts_dataset_unzip_name>.zip`` is extracted (``need_modelarts_dataset_unzip``), each once per node
by its first device while the others wait.  After the task: ``output_path -> train_url``.  ``moxing`` copies when it
is installed (on ModelArts); otherwise plain local paths are copied, which is how the tests run it.
"""
import os
import shutil
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


def _token():
    return os.environ.get("JOB_ID", "default")


def once_per_node(name, action, lock_dir, timeout=3600, poll=0.2):
    """Run ``action`` on the node's first device; the other devices wait for its lock file (same job token)."""
    lock = Path(lock_dir) / f".{name}.lock"
    if is_first_device_on_node():
        result = action()
        Path(lock_dir).mkdir(parents=True, exist_ok=True)
        tmp = lock.with_name(lock.name + f".{os.getpid()}")
        tmp.write_text(_token())
        os.replace(tmp, lock)
        return result
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if lock.read_text() == _token():
                return None
        except OSError:
            pass
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


def pre_process(cfg, log=print):
    """Sync inputs and point the run at the local copies.  No-op unless ``enable_modelarts``."""
    if not cfg.get("enable_modelarts"):
        return
    data_path, load_path, output_path = Path(cfg.data_path), Path(cfg.load_path), Path(cfg.output_path)
    lock_dir = output_path
    if cfg.data_url:
        once_per_node("copy_sync", lambda: copy(cfg.data_url, data_path), lock_dir)
    if cfg.checkpoint_url:
        once_per_node("ckpt_sync", lambda: copy(cfg.checkpoint_url, load_path), lock_dir)
    output_path.mkdir(parents=True, exist_ok=True)
    name = str(cfg.get("modelarts_dataset_unzip_name") or "")
    if cfg.get("need_modelarts_dataset_unzip") and name:
        def extract():
            if not (data_path / name).is_dir():
                unzip(data_path / f"{name}.zip", data_path, log)
        once_per_node("unzip_sync", extract, lock_dir)
        cfg.data_dir = str(data_path / name)
    else:
        cfg.data_dir = str(data_path)
    for key in ("ckpt_path", "log_path"):
        if key in cfg:
            cfg[key] = str(output_path / str(cfg[key]))
    for key in ("pre_trained", "ckpt_file", "resume"):
        value = str(cfg.get(key) or "")
        if value and value != "auto" and not os.path.isabs(value):
            cfg[key] = str(load_path / value)
    if cfg.get("file_name"):
        cfg.file_name = str(output_path / str(cfg.file_name))


def post_process(cfg):
    """Copy the outputs back to ``train_url`` (first device of each node)."""
    if cfg.get("enable_modelarts") and cfg.get("train_url") and is_first_device_on_node():
        copy(cfg.output_path, cfg.train_url)
