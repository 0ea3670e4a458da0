"""Checkpoints: atomic, checksummed writes and strict, explained loads.

* Writes go to a temporary file in ``.partial/``, are fsynced and renamed into place (the folder is fsynced too,
  where the OS allows it), so a crash or power loss never leaves a half-written ``.ckpt`` under the final name.
* Every file is written with MindSpore's CRC (``crc_check=True``) and verified on load: a flipped byte is refused
  instead of loading silently.
* Loads into a network check names and shapes and report the first mismatches in one line.
"""
import os
import re
from pathlib import Path

from model_zoo.engine.errors import CheckpointError

# keys that belong to the optimizer / training state, never to the network
TRAIN_STATE_PREFIXES = ("moments.", "moment.", "moment1.", "moment2.", "mean_square.", "mean_grad.", "accum.", "learning_rate",
                        "global_step", "beta1_power", "beta2_power", "momentum", "epoch_num", "step_num",
                        "loss_scale", "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
                        "zoo_")
# keys only a full training-state checkpoint (train network + optimizer) has: every MindSpore optimizer owns a
# 'global_step' parameter; the slots of the usual optimizers are listed for checkpoints written elsewhere
OPTIMIZER_STATE_PREFIXES = ("global_step", "moments.", "moment.", "moment1.", "moment2.", "mean_square.",
                            "mean_grad.", "accum.", "beta1_power", "beta2_power")
# files in a checkpoint folder that hold only network weights (never a run's training state)
WEIGHTS_ONLY_NAMES = ("best.ckpt",)
_CKPT_RE = re.compile(r"-(\d+)_(\d+)\.ckpt$")


def _fsync_path(path, directory=False):
    """fsync a file (or, best effort, a directory) by path; directories cannot be fsynced everywhere."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(str(path), flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


PARTIAL_DIR = ".partial"
STALE_PARTIAL_SECONDS = 24 * 3600  # another host's temporary file this old belongs to a writer that is gone


class NonFiniteCheckpoint(CheckpointError):
    """The weights hold NaN/inf: they are never written under a checkpoint name."""


def _writer_tag():
    import socket

    return f"{os.getpid()}@{socket.gethostname().split('.')[0]}"


def _partial_owner(name):
    """(pid, host or None) of a temporary file named '<pid>@<host>_<name>' (or the older '<pid>_<name>')."""
    head = name.split("_", 1)[0]
    pid, _, host = head.partition("@")
    return (int(pid), host or None) if pid.isdigit() else (None, None)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_partial(folder, own_only=False):
    """Remove temporary checkpoint files left in ``folder/.partial`` by writers that are gone (killed runs, full
    disks): this process's own files with ``own_only``, else those of dead processes on this host and those of other
    hosts older than a day.  Returns the removed paths."""
    import socket
    import time

    tmp_dir = Path(folder) / PARTIAL_DIR
    if not tmp_dir.is_dir():
        return []
    host = socket.gethostname().split(".")[0]
    removed = []
    for entry in tmp_dir.iterdir():
        pid, owner = _partial_owner(entry.name)
        if own_only:
            gone = pid == os.getpid() and owner in (None, host)
        elif pid is not None and owner in (None, host):
            gone = pid != os.getpid() and not _pid_alive(pid)
        else:
            try:
                gone = time.time() - entry.stat().st_mtime > STALE_PARTIAL_SECONDS
            except OSError:
                continue
        if gone:
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                continue
    try:
        tmp_dir.rmdir()
    except OSError:
        pass
    return removed


def _atomic_write(path, write):
    """``write(tmp)`` into a temporary file next to ``path``, fsync it, rename it to ``path``, fsync the folder.
    A failed write (full disk, signal) removes its temporary file and names the path and the cause."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = path.parent / PARTIAL_DIR  # same file system, invisible to *.ckpt globs
    tmp_dir.mkdir(exist_ok=True)
    tmp = tmp_dir / f"{_writer_tag()}_{path.name}"
    try:
        write(tmp)
        if not tmp.is_file():  # MindSpore logs some write failures instead of raising
            raise OSError(f"{tmp.name} was not written")
        _fsync_path(tmp)                         # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        try:
            tmp_dir.rmdir()
        except OSError:
            pass
        if isinstance(exc, (OSError, RuntimeError, ValueError)) and not isinstance(exc, CheckpointError):
            raise CheckpointError(f"cannot write {path}: {write_failure(exc, path.parent)}") from None
        raise
    _fsync_path(path.parent, directory=True)  # and the rename itself survives a power loss (best effort)
    try:
        tmp_dir.rmdir()  # only succeeds when no other writer is using it
    except OSError:
        pass
    return path


def write_failure(exc, folder):
    """Why a write into ``folder`` failed, in words: the OS error, or (MindSpore wraps it) what the folder says."""
    import errno
    import shutil

    code = getattr(exc, "errno", None)
    if code is None:
        try:
            if shutil.disk_usage(folder).free < 1 << 20:
                code = errno.ENOSPC
            elif not os.access(folder, os.W_OK):
                code = errno.EACCES
        except OSError:
            pass
    if code is not None:
        return f"{os.strerror(code)} (errno {errno.errorcode.get(code, code)})"
    return str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__


def check_room(folder, need_bytes, flag, what="a checkpoint of this run and its temporary copy need"):
    """Before the work starts: ``folder`` must be writable (a probe file is written, fsynced and removed) and hold
    ``need_bytes``; else one line naming the folder, the cause and the flag."""
    import shutil
    import tempfile

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".zoo_write_check_") as probe:
            probe.write(b"0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise CheckpointError(f"cannot write to {folder}: {write_failure(exc, folder)}; pass a writable {flag}") \
            from None
    if free < need_bytes:
        raise CheckpointError(f"{folder} has {free / 2 ** 20:.1f} MiB free, but {what} "
                              f"{need_bytes / 2 ** 20:.1f} MiB; free space there or pass another {flag}")


def nonfinite_entries(items):
    """Names of the float tensors that hold NaN or inf, from a Cell or a {name: Parameter/Tensor} dict."""
    import numpy as np

    pairs = ((p.name, p) for p in items.get_parameters()) if hasattr(items, "get_parameters") else items.items()
    bad = []
    for name, value in pairs:
        if not hasattr(value, "asnumpy"):
            continue
        array = value.asnumpy()
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad.append(name)
    return bad


def save(cell_or_list, path, append_dict=None, require_finite=False):
    """Atomically write a checkpoint (with CRC) of a Cell or a list of {'name', 'data'} entries.  With
    ``require_finite`` weights holding NaN/inf are refused (:class:`NonFiniteCheckpoint`) and nothing is written."""
    import mindspore as ms

    if require_finite and hasattr(cell_or_list, "get_parameters"):
        bad = nonfinite_entries(cell_or_list)
        if bad:
            raise NonFiniteCheckpoint(f"{len(bad)} tensor(s) hold NaN/inf (e.g. {bad[0]}); {Path(path).name} "
                                      f"not written")
    return _atomic_write(path, lambda tmp: ms.save_checkpoint(cell_or_list, str(tmp), append_dict=append_dict,
                                                              crc_check=True))


def copy(source, path):
    """Atomically copy a checkpoint file (temporary file, fsync, rename, as :func:`save`)."""
    import shutil

    return _atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))


def read(path, choice_func=None, log=print):
    """Load a checkpoint file into a {name: Parameter} dict, with a one-line error when it cannot be used.

    MindSpore 2.10 refuses a .ckpt larger than the free memory, page cache not counted (``os.sysconf`` available
    pages), which on a busy machine is often far less than what can be used; such a file is loaded anyway when the
    memory available counting reclaimable page cache holds it (:func:`read_large`), never called corrupt."""
    import mindspore as ms

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; check the path given to --pre_trained/--ckpt_file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); it was not written completely, use another one")
    try:
        return ms.load_checkpoint(str(path), crc_check=True, choice_func=choice_func)
    except (ValueError, RuntimeError, OSError) as exc:
        if memory_refusal(exc):
            return read_large(path, choice_func, log)
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated (MindSpore: "
                              f"{str(exc).splitlines()[0][:120]}); use an intact copy") from None


def memory_refusal(exc):
    """True when MindSpore's load_checkpoint refused a file for its size against the free memory."""
    from mindspore.train import serialization

    kind = getattr(serialization, "_CheckpointProtobufSizeError", None)
    return (kind is not None and isinstance(exc, kind)) or "exceeds current available memory" in str(exc)


def available_memory():
    """Bytes of memory available to a new allocation, reclaimable page cache included (Linux ``MemAvailable``),
    or None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gb(size):
    if size is None:
        return "unknown"
    return f"{size / 1e9:.2f} GB" if size >= 1e7 else f"{size} bytes"


def read_large(path, choice_func=None, log=print):
    """Load a .ckpt that MindSpore refused as larger than the free memory: when the memory available counting
    reclaimable page cache holds the file, MindSpore's check is given that figure for this one load."""
    import mindspore as ms
    from mindspore.train import serialization

    size = path.stat().st_size
    free = serialization._get_available_memory() if hasattr(serialization, "_get_available_memory") else None
    available = available_memory()
    what = (f"MindSpore refuses to load {path.name} ({_gb(size)}) because it is larger than the free memory "
            f"({_gb(free)}; MindSpore does not count the page cache)")
    if available is None or available < size or not hasattr(serialization, "_get_available_memory"):
        raise CheckpointError(f"{what}, and the memory available counting the page cache ({_gb(available)}) does not "
                              f"hold it either; the file itself is not damaged: close other programs or load it on a "
                              f"machine with more memory")
    if log:
        log(f"note: {what}; {_gb(available)} are available counting reclaimable page cache, so it is loaded anyway")
    original = serialization._get_available_memory
    serialization._get_available_memory = lambda: available
    try:
        return ms.load_checkpoint(str(path), crc_check=True, choice_func=choice_func)
    except (ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated (MindSpore: "
                              f"{str(exc).splitlines()[0][:120]}); use an intact copy") from None
    finally:
        serialization._get_available_memory = original


def has_optimizer_state(param_dict):
    """True when a checkpoint holds optimizer state (so it can resume a run), not only network weights."""
    return any(name.startswith(OPTIMIZER_STATE_PREFIXES) for name in param_dict)


def network_params(param_dict):
    """Only the network's parameters: drop optimizer/training state and a leading 'network.' prefix."""
    out = {}
    for name, value in param_dict.items():
        if name.startswith(TRAIN_STATE_PREFIXES):
            continue
        out[name[len("network."):] if name.startswith("network.") else name] = value
    return out


def load_into(net, path_or_dict, what="checkpoint"):
    """Load weights into ``net``; refuse missing keys, unexpected keys and shape mismatches with one line."""
    import mindspore as ms

    params = read(path_or_dict) if isinstance(path_or_dict, (str, Path)) else path_or_dict
    own = {p.name: p for p in net.get_parameters()}
    # '<state>.<param>' entries are optimizer slots of a network parameter (any optimizer), not network weights
    params = {k: v for k, v in network_params(params).items() if k in own or k.split(".", 1)[-1] not in own}
    missing = [n for n in own if n not in params]
    unexpected = [n for n in params if n not in own]
    label = f"{what} {path_or_dict}" if isinstance(path_or_dict, (str, Path)) else what
    check_shapes(net, params, label)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError(f"{label} is not a checkpoint of this architecture: {'; '.join(parts)}; "
                              f"check --arch (or convert the weights with python -m model_zoo.convert)")
    ms.load_param_into_net(net, params, strict_load=True)
    return params


def check_shapes(net, params, label):
    """Refuse shape mismatches (MindSpore would raise a multi-line RuntimeError) with one explained line."""
    own = {p.name: p for p in net.get_parameters()}
    wrong = [(n, tuple(params[n].shape), tuple(own[n].shape)) for n in own
             if n in params and tuple(params[n].shape) != tuple(own[n].shape)]
    if wrong:
        name, got, want = wrong[0]
        hint = ""
        if name == _last_dense_weight(own):
            hint = f" (num_classes mismatch: checkpoint has {got[0]} classes, the network {want[0]}; set --num_classes)"
        elif name.endswith("learning_rate") and len(got) == 1:
            raise CheckpointError(f"{label} was trained with a {got[0]}-step learning-rate schedule and this run's has "
                                  f"{want[0]} steps: resume with the run's --max_epoch, batch size, LR flags and data "
                                  f"(or start a new run from its weights with --pre_trained)")
        raise CheckpointError(f"{label} does not fit this network: {name} has shape {got}, expected {want}{hint}"
                              f"{f' and {len(wrong) - 1} more' if len(wrong) > 1 else ''}; check --arch/--num_classes")


def _last_dense_weight(own):
    weights = [n for n, p in own.items() if n.endswith(".weight") and len(p.shape) == 2]
    return weights[-1] if weights else None


def epoch_step_from_name(path):
    """(epoch, step) parsed from an upstream name like '0-90_2502.ckpt' (only used for *sorting* folders)."""
    match = _CKPT_RE.search(Path(path).name)
    return (int(match.group(1)), int(match.group(2))) if match else (-1, -1)


def checkpoints_in(path):
    """A file -> [file]; a folder -> its *.ckpt, newest epoch first (as upstream eval.py)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.ckpt"), key=lambda p: (epoch_step_from_name(p), p.stat().st_mtime), reverse=True)
        if files:
            return files
        raise CheckpointError(f"no .ckpt files in folder {path}; pass a checkpoint file or a folder holding them")
    raise CheckpointError(f"checkpoint {path} not found; check the path given to --pre_trained")


def prefixed_checkpoints(directory, prefix):
    """``<prefix>-<epoch>_<step>.ckpt`` files in ``directory``, oldest first (by modification time, then by the
    epoch/step of the name); other files (best.ckpt, recovery.ckpt, other prefixes) are not included."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = re.compile(re.escape(str(prefix)) + r"-\d+_\d+\.ckpt$")
    found = []
    for path in directory.iterdir():
        if pattern.fullmatch(path.name):
            try:
                found.append((path.stat().st_mtime, epoch_step_from_name(path), path))
            except OSError:  # removed meanwhile
                continue
    return [path for _, _, path in sorted(found)]


class CheckpointKeeper:
    """Keeps at most ``keep_max`` checkpoints in a folder: the oldest written are removed first, never the newest.

    With ``directory`` and ``prefix`` the keeper starts from the ``<prefix>-<epoch>_<step>.ckpt`` files already
    there (a resumed run writing into the folder of the run it continues), oldest first, so the limit holds across
    a resume too."""

    def __init__(self, keep_max, directory=None, prefix=None):
        self.keep_max = int(keep_max)
        self.written = prefixed_checkpoints(directory, prefix) if directory is not None and prefix is not None else []

    def add(self, path):
        path = Path(path)
        self.written = [p for p in self.written if p != path] + [path]  # re-written: now the newest
        while self.keep_max > 0 and len(self.written) > self.keep_max:
            old = self.written.pop(0)
            if old.exists() and old != self.written[-1]:
                old.unlink()


def metadata(params_or_path):
    """The zoo's own entries of a checkpoint (``zoo_*`` strings, JSON-decoded where possible), e.g.
    ``{'arch': ..., 'classes': [...], 'preprocess': {...}}``."""
    import json

    params = read(params_or_path) if isinstance(params_or_path, (str, Path)) else params_or_path
    out = {}
    for key, value in params.items():
        if key.startswith("zoo_") and isinstance(value, str):
            try:
                out[key[4:]] = json.loads(value)
            except ValueError:
                out[key[4:]] = value
    return out


def preprocess_meta(cfg, resize_ratio=None):
    """What a checkpoint's weights expect at inference, from the run's config."""
    from model_zoo.engine.config import parse_image_size
    from model_zoo.engine.data import eval_normalization

    norm = eval_normalization(cfg)  # eval_mean / eval_std / eval_interpolation ('' = the recipes' ImageNet values)
    return {"dataset": str(cfg.get("dataset", "")), "image_size": list(parse_image_size(cfg.image_size)),
            "resize_ratio": float(cfg.get("eval_resize_ratio", 0.875) if resize_ratio is None else resize_ratio),
            "keep_aspect": bool(cfg.get("eval_keep_aspect", False)), "interpolation": norm["interpolation"],
            "mean": list(norm["mean"]), "std": list(norm["std"])}
