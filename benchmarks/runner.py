"""The parent side of a benchmark run: one fresh process per measurement, foreign load, and the run plan."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workers import MODELS, RESULT_TAG, VARIANTS, make_jpeg_folder

BASE_ENV = dict(os.environ)  # before anything here touches the environment
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMPILE_PHASES = ("compile_graph", "compile_backend_graph", "OptimizeGraph", "CreateKernel", "CompileSubGraph",
                  "GraphScheduler", "ConstructKernelGraph")


def _proc_stat():
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def foreign_load(seconds=2.0):
    """Cores busy over ``seconds`` (nothing of ours runs meanwhile)."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = _proc_stat()
    time.sleep(seconds)
    busy1, _ = _proc_stat()
    return (busy1 - busy0) / hz / seconds


def child_env(base=None, **extra):
    """Environment for a measuring child process: ``base`` (default: this process's environment) with this checkout
    first on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def tagged_result(text, tag=RESULT_TAG):
    """The JSON a child printed after ``tag`` (its last such line), or None."""
    result = None
    for line in text.splitlines():
        if line.startswith(tag):
            result = json.loads(line[len(tag):])
    return result


def run_children(script, frameworks, child_args, tag, env=None, finish=None):
    """``script --child --framework F child_args`` in a fresh process per framework: {framework: its tagged result};
    ``env(framework)`` gives each child's environment (default :func:`child_env`), ``finish(result, output)`` may add
    to a result from the child's whole stdout + stderr.  None (after printing the child's stderr) when one fails."""
    results = {}
    for framework in frameworks:
        proc = subprocess.run([sys.executable, str(script), "--child", "--framework", framework] + list(child_args),
                              env=env(framework) if env else child_env(), capture_output=True, text=True,
                              check=False)
        result = tagged_result(proc.stdout, tag)
        if result is None:
            print(f"{framework}: no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            return None
        if finish:
            finish(result, proc.stdout + proc.stderr)
        results[framework] = result
    return results


def run_worker(spec, env_extra=None, timeout=3600, log_dir=None, label=""):
    """Run one measurement in a fresh process; returns its result dict with wall time and foreign load."""
    env = child_env(BASE_ENV, PYTHONUNBUFFERED="1")
    env.update(env_extra or {})
    hz = os.sysconf("SC_CLK_TCK")
    spec = dict(spec, root_path=str(ROOT))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy0, steal0 = _proc_stat()
        start = time.time()
        proc = subprocess.Popen([sys.executable, str(HERE / "workers.py"), json.dumps(spec)],
                                env=env, stdout=out, stderr=err, cwd=str(log_dir or tempfile.gettempdir()),
                                start_new_session=True)
        rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() - start > timeout:
                os.killpg(proc.pid, 9)
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - start
        busy1, steal1 = _proc_stat()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    own_cpu = rusage.ru_utime + rusage.ru_stime
    result = tagged_result(stdout)
    prof = {}
    for line in (stdout + "\n" + stderr).splitlines():  # MS_DEV_RUNTIME_CONF=compile_statistics:True phase times
        if line.startswith("[PROF]") and " costs " in line:
            name, _, cost = line[6:].partition(" costs ")
            try:
                prof[name] = prof.get(name, 0.0) + float(cost.split()[0]) / 1000.0
            except ValueError:
                pass
    if result is None:
        tail = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        result = {"ok": False, "error": f"worker exit {proc.returncode} after {wall:.0f}s: {tail}"}
    if prof:
        result["compile_phases_s"] = {k: round(v, 3) for k, v in prof.items() if k in COMPILE_PHASES}
    result.update(t_start=start, wall_s=wall, own_cores=own_cpu / max(wall, 1e-6),
                  foreign_cores=max(0.0, ((busy1 - busy0) / hz - own_cpu) / max(wall, 1e-6)),
                  steal_cores=(steal1 - steal0) / hz / max(wall, 1e-6), label=label, spec=spec)
    if log_dir:
        safe = label.replace("/", "_").replace(" ", "_")
        (Path(log_dir) / f"{safe}.log").write_text(stdout + "\n--- stderr ---\n" + stderr, encoding="utf-8")
    return result


class Bench:
    def __init__(self, args):
        self.args = args
        self.records = []
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="zoo_bench_"))
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "logs").mkdir(exist_ok=True)
        self.jsonl = Path(args.jsonl) if args.jsonl else self.work / "results.jsonl"
        self.quick = args.quick

    # one measurement ------------------------------------------------------------------------------------------
    def run(self, label, spec, env=None, timeout=None):
        self._wait_quiet()
        result = run_worker(spec, env, timeout or self.args.timeout, self.work / "logs", label)
        self.records.append(result)
        with self.jsonl.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
        shown = {k: result.get(k) for k in ("imgs_per_s", "median_s", "first_call_s", "compile_est_s", "peak_rss_mb",
                                            "gflops", "macs") if result.get(k) is not None}
        text = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        status = "ok" if result.get("ok") else f"FAILED: {result.get('error')}"
        print(f"[{time.strftime('%H:%M:%S')}] {label:<44} {status} {text} (wall {result['wall_s']:.0f}s, "
              f"foreign load {result['foreign_cores']:.2f} cores)", flush=True)
        return result

    def _wait_quiet(self):
        if self.args.max_wait <= 0:
            return
        deadline = time.time() + self.args.max_wait
        while time.time() < deadline:
            if foreign_load(2.0) < self.args.quiet_below:
                return
        print(f"  (machine still busy after {self.args.max_wait:.0f}s of waiting; measuring anyway)", flush=True)

    def iters(self):
        if self.quick:
            return dict(iters=2, warmup=0, min_iters=1, budget=30.0)
        return dict(iters=self.args.iters, warmup=self.args.warmup, min_iters=min(3, self.args.iters),
                    budget=self.args.budget)

    # measurement groups --------------------------------------------------------------------------------------
    def model_runs(self, model, batch):
        info = MODELS[model]
        size = info["quick_size"] if self.quick else info["size"]
        base = dict(model=model, batch=batch, size=size, **self.iters())
        key = f"{model}/b{batch}"
        if "infer" not in self.args.tasks:
            self.run(f"{key}/macs", dict(kind="macs", model=model, size=size))
        for task in self.args.tasks:
            zspec = dict(base, kind="ms_model", framework="zoo", task=task, variant="default")
            if task == "infer":
                zspec["count_macs"] = True
            cache = self.work / "compile_cache" / f"{model}_b{batch}_{task}"
            shutil.rmtree(cache, ignore_errors=True)
            cache_env = {"MS_COMPILER_CACHE_ENABLE": "1", "MS_COMPILER_CACHE_PATH": str(cache),
                         "MS_DEV_RUNTIME_CONF": "compile_statistics:True"}  # [PROF] phase times in the log
            # quick mode saves a process: its default run also writes the compile cache (full mode keeps the
            # default run exactly the zoo default and fills the cache in a separate first-call-only run)
            fill_in_default = self.quick and not self.args.no_cache
            self.run(f"{key}/{task}/zoo/default", zspec, cache_env if fill_in_default else None)
            if not self.args.no_cache:
                if not fill_in_default:
                    self.run(f"{key}/{task}/zoo/cache_fill", dict(zspec, variant="cache_fill", count_macs=False,
                                                                  iters=1, warmup=0, min_iters=1), cache_env)
                self.run(f"{key}/{task}/zoo/cache_warm", dict(zspec, variant="cache_warm", count_macs=False,
                                                              iters=2, warmup=0, min_iters=2), cache_env)
            if "torch" in self.args.peers:
                self.run(f"{key}/{task}/torch", dict(base, kind="torch_model", framework="torch", task=task))
            if "mindcv" in self.args.peers:
                if size < info["mindcv_min"]:
                    self.records.append({"ok": False, "label": f"{key}/{task}/mindcv", "spec": dict(
                        base, framework="mindcv", task=task), "error": f"skipped: MindCV's {model} needs "
                                        f"{info['mindcv_min']}x{info['mindcv_min']} inputs (quick size {size})",
                        "foreign_cores": 0.0, "wall_s": 0.0})
                else:
                    # MindCV as its users run it: MindSpore's own kernels (the zoo's fast ones would patch its
                    # nn.Conv2d too), with the zoo's ISA cap (without it MindSpore's convolutions are 65-190x slower)
                    self.run(f"{key}/{task}/mindcv", dict(base, kind="ms_model", framework="mindcv", task=task,
                                                          variant="default"), {"MODEL_ZOO_FAST_CONV": "0"})
            for rep in range(self.args.repeat):  # variants interleaved with repeats of the default
                for name in self.args.variants:
                    if name == "default" and rep == 0:
                        continue
                    variant = VARIANTS[name]
                    if task not in variant.get("tasks", ("train", "infer")):
                        continue
                    self.run(f"{key}/{task}/zoo/{name}", dict(zspec, variant=name, variant_spec=variant,
                                                              count_macs=False), variant.get("env"))

    def data_runs(self):
        count = 64 if self.quick else self.args.data_images
        epochs = 2 if self.quick else 4
        root = make_jpeg_folder(self.work / f"jpegs_{count}", count)
        frameworks = ["zoo", "ms_imagefolder"] + (["torch"] if "torch" in self.args.peers else [])
        for split in ("train", "eval"):
            runs = []
            for framework in frameworks:
                runs.append((f"data/{split}/{framework}", dict(kind="data", framework=framework, split=split,
                                                               root=str(root), batch=32,
                                                               workers=self.args.data_workers, epochs=epochs)))
            # the zoo's pipeline with one change each: MindSpore's own Decode for eval (what the zoo used before
            # Pillow's), and other prefetch sizes
            variants = [("ms_decode", {"ms_decode": True})] if split == "eval" else []
            variants += [(f"prefetch{prefetch}", {"prefetch": prefetch}) for prefetch in self.args.data_prefetch]
            for name, variant_spec in variants:
                runs.append((f"data/{split}/zoo/{name}",
                             dict(kind="data", framework="zoo", split=split, root=str(root), batch=32,
                                  workers=self.args.data_workers, epochs=epochs, variant=name,
                                  variant_spec=variant_spec)))
            # with --repeat N: N rounds, each in a rotated order, so that no pipeline is always the first one
            # measured (the first after the JPEGs are written ran up to 30% slower in one round)
            for rep in range(self.args.repeat):
                shift = rep % len(runs)
                for label, spec in runs[shift:] + runs[:shift]:
                    self.run(label, spec)

    def all(self, command=""):
        print(f"work folder: {self.work} (raw results: {self.jsonl}, worker logs: {self.work / 'logs'})", flush=True)
        meta = {"ok": True, "label": "meta", "command": command, "t_start": time.time(), "wall_s": 0.0,
                "foreign_cores": 0.0}
        self.records.append(meta)
        with self.jsonl.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(meta) + "\n")
        self.run("versions", dict(kind="versions"))
        self.run("peak/numpy_sgemm", dict(kind="peak", n=2048 if self.quick else 4096, reps=3 if self.quick else 5))
        if not self.args.skip_data:
            self.data_runs()
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                self.model_runs(model, batch)
        self.run("peak/numpy_sgemm_end", dict(kind="peak", n=2048 if self.quick else 4096,
                                              reps=3 if self.quick else 5))
