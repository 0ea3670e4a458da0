"""The up-front image check at ImageNet's shape: many small JPEGs in 1000 class folders.

    python benchmarks/image_check.py generate --root DIR [--files 100000] [--classes 1000] [--size 48]
    python benchmarks/image_check.py run --root DIR            # first check, cached rerun, 2-rank run; prints JSON
    python benchmarks/image_check.py check --root DIR          # one check in this process (what run times)

``generate`` writes ``DIR/train/<class>/<i>.JPEG`` (random noise, quality 90) on every core.  ``run`` removes the
folder's check cache, then times, each in a fresh process: the first check (scan + check of every file: files/s on
this machine's cores) with the images in the page cache, then again with their pages dropped (``first_cold``), the
cached rerun (scan + cache lookup), a rerun after 100 files changed, and a 2-rank msrun job (the launcher with
``--script benchmarks/image_check.py``: each rank sets up MindSpore's communication like train.py and builds the
training index) after the cache was removed again: one rank checks, the other waits for the cache.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _write_class(job):
    import numpy as np
    from PIL import Image

    folder, count, size, seed = job
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{folder.name}_{i:05d}.JPEG", quality=90)
    return count


def generate(root, files, classes, size):
    from concurrent.futures import ProcessPoolExecutor

    per_class = files // classes
    jobs = [(Path(root) / "train" / f"n{c:08d}", per_class, size, c) for c in range(classes)]
    start = time.time()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        total = sum(pool.map(_write_class, jobs, chunksize=8))
    print(json.dumps({"generated": total, "classes": classes, "size": size, "seconds": round(time.time() - start, 1),
                      "bytes": sum(f.stat().st_size for f in (Path(root) / "train").rglob("*.JPEG"))}))


def _clear_cache(root):
    from model_zoo.engine import verify

    for path in verify._cache_paths(Path(root) / "train"):  # noqa: SLF001 - the benchmark resets the cache
        for stale in (path, path.with_name(path.name + ".lock")):
            if stale.exists():
                stale.unlink()


def evict(root):
    """Drop the images' pages from the page cache (``posix_fadvise(DONTNEED)``, file by file: no root needed and no
    effect on other processes' files), so that the next check reads them from the disk."""
    for path in (Path(root) / "train").rglob("*.JPEG"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def check(root):
    """Scan the class folders and check every image, as a training run does; prints the timing as JSON."""
    import model_zoo  # noqa: F401
    from model_zoo.engine import data, verify

    start = time.time()
    index = data.scan_class_folders(Path(root) / "train")
    scanned = time.time() - start
    verify.check_index(index)
    stats = verify.STATS[str(index.root)]
    print(json.dumps(dict(stats, scan_seconds=round(scanned, 3), total_seconds=round(time.time() - start, 3),
                          cores=os.cpu_count())), flush=True)


def rank_main(argv):
    """Under msrun: one rank of a job, as train.py sets it up (communication init, seed, run folder), then the
    training index of --data_dir with the image check."""
    import model_zoo  # noqa: F401
    from model_zoo.engine import cli, data, runtime, verify

    _, cfg = cli.resolve("train", "vgg19", argv)
    start = time.time()
    ctx = runtime.setup(cfg, "train")
    setup = time.time() - start
    start = time.time()
    index = data.load_index(cfg, True)
    stats = verify.STATS[str(index.root)]
    print("IMAGE_CHECK " + json.dumps(dict(stats, rank=ctx.rank, ranks=ctx.group_size, index_seconds=round(
        time.time() - start, 3), setup_seconds=round(setup, 3))), flush=True)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(root, work):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    me = [sys.executable, str(Path(__file__).resolve())]
    _clear_cache(root)
    first = json.loads(subprocess.run(me + ["check", "--root", str(root)], env=env, capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1])
    _clear_cache(root)
    evict(root)
    cold = json.loads(subprocess.run(me + ["check", "--root", str(root)], env=env, capture_output=True, text=True,
                                     check=True).stdout.strip().splitlines()[-1])
    cached = json.loads(subprocess.run(me + ["check", "--root", str(root)], env=env, capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1])
    for path in sorted((Path(root) / "train").glob("*/*.JPEG"))[:: max(1, first["files"] // 100)][:100]:
        os.utime(path)  # 100 files "changed" (new mtime): only they are checked again
    changed = json.loads(subprocess.run(me + ["check", "--root", str(root)], env=env, capture_output=True, text=True,
                                        check=True).stdout.strip().splitlines()[-1])
    _clear_cache(root)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "model_zoo.engine.launcher", "train", "--model", "vgg19", "--device", "CPU",
           "--nproc", "2", "--master_port", str(_free_port()), "--script", str(Path(__file__).resolve()),
           "--data", str(Path(root)), "--log_dir", str(work / "msrun_log"), "--", "--ckpt_path=" + str(work / "out")]
    start = time.time()
    job = subprocess.run(cmd, env=dict(env, MODEL_ZOO_IMAGE_CHECK_RANK="1",
                                       PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                             env.get("PATH", "")])),
                         cwd=work, capture_output=True, text=True)
    ranks = []
    for log in sorted((work / "msrun_log").glob("worker_*.log")):
        ranks += [json.loads(line.split(" ", 1)[1]) for line in log.read_text().splitlines()
                  if line.startswith("IMAGE_CHECK ")]
    result = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "files": first["files"],
              "first": first, "first_cold": cold, "cached": cached,
              "changed_100": changed, "two_ranks": {"returncode": job.returncode, "wall_seconds": round(
                  time.time() - start, 1), "ranks": sorted(ranks, key=lambda r: r["rank"])}}
    if job.returncode:
        result["two_ranks"]["stderr"] = job.stderr[-2000:]
    print(json.dumps(result, indent=2))


def main():
    if os.environ.get("MODEL_ZOO_IMAGE_CHECK_RANK") == "1":  # started by msrun as a rank (or its scheduler)
        return rank_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("generate", "run", "check"))
    parser.add_argument("--root", required=True)
    parser.add_argument("--files", type=int, default=100000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--work", default=None, help="folder for the 2-rank job's logs (default: ROOT/../work)")
    args = parser.parse_args()
    if args.action == "generate":
        generate(args.root, args.files, args.classes, args.size)
    elif args.action == "check":
        check(args.root)
    else:
        try:
            run(args.root, args.work or Path(args.root).resolve().parent / "image_check_work")
        finally:
            shutil.rmtree(args.work or Path(args.root).resolve().parent / "image_check_work", ignore_errors=True)


if __name__ == "__main__":
    main()
