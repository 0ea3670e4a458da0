"""Image-file checks run before a pipeline starts (a bad file must never kill a run mid-epoch).

MindSpore's decoder stops the whole pipeline at the first undecodable file and dies with SIGFPE on a truncated
JPEG, so every file is checked once with Pillow (header + JPEG end marker) and the result is cached per data folder
(keyed by path, size and mtime).  The check scales to ImageNet (``benchmarks/RESULTS.md``):

* it runs on every core this process may use (a process pool, from 2000 files on);
* it runs once per node: the process that takes the cache's lock (``fcntl.flock`` on ``<cache>.lock``) checks and
  writes the cache, the other ranks wait for the lock and then find every file in the cache;
* the cache is incremental: a later start checks only the files whose size or mtime changed (and drops the entries
  of files that are gone), and one process checks a folder at most once (each epoch's pipeline reuses the result).
"""
import json
import os
import time
from pathlib import Path

from model_zoo.engine.console import note
from model_zoo.engine.errors import DataError

CACHE_NAME = ".model_zoo_index.json"


def check_file(path):
    """None when the image is usable, else a short reason."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if size == 0:
        return "empty file"
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.verify()
            kind = image.format
    except Exception as exc:  # Pillow raises many types for bad files
        return f"not a decodable image ({exc.__class__.__name__})"
    if kind == "JPEG":
        with open(path, "rb") as handle:
            handle.seek(max(0, size - 64))
            tail = handle.read()
        if b"\xff\xd9" not in tail:
            return "truncated JPEG (no end-of-image marker)"
    return None


def _cache_paths(root):
    """The index cache inside the data folder, or (read-only data) in the user's cache folder."""
    import hashlib

    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "model_zoo" / f"index_{digest}.json"
    return [Path(root) / CACHE_NAME, home]


def _load_cache(root):
    for path in _cache_paths(root):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return {}


def _save_cache(root, cache):
    for path in _cache_paths(root):
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(cache), encoding="utf-8")
            os.replace(tmp, path)
            return path
        except OSError:
            continue  # read-only data folder: try the user cache
    return None


def _check_many(paths):
    """check_file over many paths, on every usable core when there are enough of them to pay off."""
    from model_zoo.engine.cpu_env import usable_cores

    cores = usable_cores()
    if len(paths) < 2000 or cores < 2:
        return [check_file(p) for p in paths]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # spawn, not fork: the caller may already run MindSpore's threads, and a forked copy of a lock they hold
    # would hang the worker; the workers import only this module (no MindSpore)
    with ProcessPoolExecutor(cores, mp_context=get_context("spawn")) as pool:
        return list(pool.map(check_file, paths, chunksize=256))


class _CacheLock:
    """An exclusive ``flock`` on the cache's lock file, so that one process per node (or per shared folder) checks
    and the others wait for its cache.  No lock where none can be created (read-only everywhere)."""

    def __init__(self, root):
        self.root = root
        self.handle = None
        self.waited = 0.0

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: every process checks for itself
            return self
        for path in _cache_paths(self.root):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.handle = open(path.with_name(path.name + ".lock"), "a+b")
            except OSError:
                continue
            start = time.time()
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
            self.waited = time.time() - start
            break
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            import fcntl

            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
        return False


STATS = {}   # data folder -> {'files', 'checked', 'seconds', 'waited', 'processes'} of its last check


def bad_files(paths, root):
    """[(path, reason)] for the unusable files among ``paths`` (cached per data folder, checked once per node)."""
    from model_zoo.engine.cpu_env import usable_cores

    start = time.time()
    prefix = str(root).rstrip(os.sep) + os.sep
    keyed = []
    bad = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            bad.append((path, "unreadable"))
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, root)
        keyed.append((path, rel, f"{stat.st_size}:{int(stat.st_mtime_ns)}"))
    with _CacheLock(root) as lock:
        cache = _load_cache(root)
        todo = []
        for path, rel, key in keyed:
            entry = cache.get(rel)
            if entry is None or entry[0] != key:
                todo.append((path, rel, key))
            elif entry[1]:
                bad.append((path, entry[1]))
        current = {rel for _, rel, _ in keyed}
        stale = [rel for rel in cache if rel not in current]
        if todo or stale:
            for rel in stale:  # files that are gone: the cache holds what the folder holds
                del cache[rel]
            for (path, rel, key), reason in zip(todo, _check_many([t[0] for t in todo])):
                cache[rel] = [key, reason]
                if reason:
                    bad.append((path, reason))
            _save_cache(root, cache)
    STATS[str(root)] = {"files": len(paths), "checked": len(todo), "seconds": round(time.time() - start, 3),
                        "waited": round(lock.waited, 3),
                        "processes": usable_cores() if len(todo) >= 2000 else 1}
    return sorted(bad)


_MEMO = {}  # (root, files, first, last) -> bad files: one check per folder and process, not one per epoch


_SKIPPED = {}     # data folder -> [(path, reason)] skipped by this process
_SKIP_LINES = {}  # data folder -> the warning printed for it


def skipped_files():
    """[(path, reason)] of every file this process skipped (``--bad_file_policy=skip``), for the run records."""
    return sorted(item for bad in _SKIPPED.values() for item in bad)


def skipped_lines():
    """The warnings printed for the skipped files (one per data folder)."""
    return [_SKIP_LINES[root] for root in sorted(_SKIP_LINES)]


def check_index(index, policy="fail"):
    """Apply the bad-file policy to a SampleIndex: 'fail' names the bad files, 'skip' drops and counts them."""
    memo = (str(index.root), len(index.paths), index.paths[0] if index.paths else "",
            index.paths[-1] if index.paths else "")
    if memo not in _MEMO:
        _MEMO[memo] = bad_files(index.paths, index.root)
    bad = _MEMO[memo]
    if not bad:
        return index
    names = ", ".join(f"{os.path.relpath(p, index.root)} ({why})" for p, why in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    if policy != "skip":
        raise DataError(f"{len(bad)} unusable file(s) in {index.root}: {names}{more}; remove them or pass "
                        f"--bad_file_policy=skip")
    drop = {p for p, _ in bad}
    keep = [(p, l) for p, l in zip(index.paths, index.labels) if p not in drop]
    line = f"WARNING: skipping {len(bad)} unusable file(s) in {index.root}: {names}{more}"
    if _SKIPPED.get(str(index.root)) != bad:  # once per folder and process, not once per epoch's pipeline
        note(line)
        _SKIPPED[str(index.root)] = bad
        _SKIP_LINES[str(index.root)] = line
    index.paths = [p for p, _ in keep]
    index.labels = [l for _, l in keep]
    index.skipped = len(bad)
    return index
