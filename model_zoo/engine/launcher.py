"""The one distributed launcher behind every model's ``scripts/run_*.sh``.

    python -m model_zoo.engine.launcher train|eval --model NAME --device GPU --data DIR [--ckpt CKPT] [--nproc N]
        [--launcher msrun|mpirun|rank_table|single] [--rank_table FILE] [--dry_run] [--background]
        [--master_addr A --master_port P --node_rank K --nnodes M --worker_num W --local_worker_num L]
        [--log_dir DIR] [--log_file FILE] [--visible_devices 0,1] [--device_start I] [--script PY]
        [--config_path YAML] -- [train.py / eval.py flags]

The device entry (:mod:`model_zoo.engine.device`) says which launchers apply (in order of preference), which
communication library init() uses, what environment its processes need and how many processes a node runs;
this module only turns that into commands:

* ``msrun`` (MindSpore's own launcher, single or multi node): ``msrun --worker_num --local_worker_num
  --master_addr --master_port --node_rank --log_dir --join=True SCRIPT FLAGS``; logs in ``--log_dir``.
* ``mpirun`` (OpenMPI, as the upstream GPU scripts): ``mpirun --allow-run-as-root -n N --output-filename log_output
  --merge-stderr-to-stdout python SCRIPT FLAGS`` with the output in ``output.<task>.log``.  Where MindSpore cannot
  take its ranks from OpenMPI (``mpirun_init=False``: CPU), mpirun only spawns the processes: one MPMD context per
  process, the first a MindSpore scheduler, each with the dynamic-cluster variables (MS_ROLE, MS_WORKER_NUM,
  MS_SCHED_HOST, MS_SCHED_PORT, MS_NODE_ID) and its RANK_ID / RANK_SIZE / DEVICE_ID.
* ``rank_table`` (Ascend, as upstream): RANK_TABLE_FILE, RANK_SIZE, per-rank DEVICE_ID / RANK_ID, a working folder
  ``train_parallel<i>`` (eval: ``eval_parallel<i>``) with copies of the model's ``*.py``, ``*.yaml`` and ``src``,
  ``env > env.log``, ``taskset -c`` core binding (cores / ranks per rank) and the log in ``train_parallel<i>/log``.
* ``single``: one process, ``--is_distributed=0`` (the standalone scripts).

The models' ``scripts/run_*.sh`` call ``python -m model_zoo.engine.launcher script SCRIPT.sh [defaults] -- ARGS``:
each script name has a generic positional form (``SCRIPTS``), and a model folder declares its upstream forms in its
own ``script_forms.py`` (:class:`model_zoo.engine.registry.ScriptForm`: what each positional sets, e.g. DEVICE_NUM
-> ``--nproc``, NET_NAME -> ``--net=``, DATASET_TYPE -> ``{type}_config.yaml`` + ``--dataset=``, DEVICE_TYPE ->
the device, and where the logs go).  This module never names a model folder.

``--dry_run`` (or ``MODEL_ZOO_DRY_RUN=1``) prints, per process, the working folder, the environment the launcher
sets, the command and the log, and runs nothing.  A bad argument prints the usage line and exits with 2 (1 from a
model's shell script, as upstream).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from model_zoo.engine import registry
from model_zoo.engine.device import get_backend
from model_zoo.engine.errors import DeviceError, ZooError
from model_zoo.engine.registry import ScriptArg, ScriptForm

ZOO_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = ZOO_DIR.parent
TASKS = ("train", "eval")
LAUNCHERS = ("msrun", "mpirun", "rank_table", "single")
DEFAULT_PORT = 8118
OMPI_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE")
USAGE = ("usage: python -m model_zoo.engine.launcher {train,eval} --model NAME [--device CPU|GPU|Ascend] "
         "[--data DIR] [--ckpt CKPT] [--nproc N] [--launcher msrun|mpirun|rank_table|single] [--rank_table FILE] "
         "[--dry_run] [--background] [--master_addr A] [--master_port P] [--node_rank K] [--nnodes M] "
         "[--worker_num W] [--local_worker_num L] [--log_dir DIR] [--log_file FILE] [--visible_devices IDS] "
         "[--device_start I] [--script PY] [--config_path YAML] -- [train.py/eval.py flags]")


class UsageError(Exception):
    """A bad launcher argument: usage line + message, exit code 2 (1 for the shell scripts)."""


# ---------------------------------------------------------------------------------------------------------------
# what one job is made of
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Proc:
    """One process the launcher starts (a launcher such as msrun or mpirun counts as one)."""

    label: str
    argv: list
    env: dict
    cwd: Path
    log: Path
    prepare: list = field(default_factory=list)   # human-readable preparation steps (rank-table folders)
    notes: list = field(default_factory=list)     # per-rank environment a launcher sets by itself
    workdir: Path = None                          # rank-table working folder to (re)create


@dataclass
class Plan:
    task: str
    model: str
    backend: object
    launcher: str
    ranks: int
    procs: list
    logs: list


# ---------------------------------------------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser():
    p = _Parser(prog="python -m model_zoo.engine.launcher", add_help=False, allow_abbrev=False)
    p.add_argument("task", choices=TASKS)
    p.add_argument("--model", required=True)
    add_job_options(p)
    return p


def add_job_options(p):
    """The launcher options (also accepted after a model script's positional arguments)."""
    p.add_argument("--device", default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--ckpt", default=None)
    p.add_argument("--nproc", type=int, default=None)
    p.add_argument("--launcher", choices=LAUNCHERS, default=None)
    p.add_argument("--rank_table", default=None)
    p.add_argument("--dry_run", action="store_true")
    p.add_argument("--background", action="store_true")
    p.add_argument("--master_addr", default="127.0.0.1")
    p.add_argument("--master_port", type=int, default=None)
    p.add_argument("--node_rank", type=int, default=0)
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--worker_num", type=int, default=None)
    p.add_argument("--local_worker_num", type=int, default=None)
    p.add_argument("--log_dir", default=None)
    p.add_argument("--log_file", default=None)
    p.add_argument("--visible_devices", default=None)
    p.add_argument("--device_start", type=int, default=0)
    p.add_argument("--script", default=None)
    p.add_argument("--config_path", default=None)
    p.add_argument("--cluster_time_out", type=int, default=None)
    return p


JOB_OPTIONS = {a.option_strings[0] for a in add_job_options(_Parser(add_help=False))._actions if a.option_strings}
FLAG_OPTIONS = {"--dry_run", "--background"}
_PATH_CHANGE = {}


def split_args(argv):
    """(launcher args, flags after ``--`` for the training / evaluation script)."""
    argv = list(argv)
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def parse(argv):
    own, extra = split_args(argv)
    args = _parser().parse_args(own)
    args.extra = extra
    return args


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


# ---------------------------------------------------------------------------------------------------------------
# building the plan
# ---------------------------------------------------------------------------------------------------------------

def _abs(path):
    return str(Path(path).expanduser().resolve())


def model_folder(name):
    folder = ZOO_DIR / str(name)
    if not name or name == "engine" or not (folder / "__init__.py").is_file():
        models = sorted(p.name for p in ZOO_DIR.iterdir() if (p / "__init__.py").is_file() and p.name != "engine")
        raise UsageError(f"--model {name!r} is not a model folder of model_zoo; choose one of {', '.join(models)}")
    return folder


def _python():
    return sys.executable or shutil.which("python3") or "python"


def _tool(name):
    """A launcher executable: the one next to this Python (the venv's msrun) first, then PATH."""
    beside = Path(_python()).with_name(name)
    return str(beside) if beside.is_file() else (shutil.which(name) or name)


def base_env(backend, args):
    """Environment every process of the job gets on top of the caller's (only what differs is listed)."""
    env = {}
    pythonpath = os.environ.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in pythonpath.split(os.pathsep):
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
    env.update(_PATH_CHANGE)
    env.update(backend.extra_env)
    if args.visible_devices:
        if not backend.visible_devices_env:
            raise UsageError(f"--visible_devices: {backend.name} has no device selection variable")
        env[backend.visible_devices_env] = args.visible_devices
    return env


def script_flags(args, backend, distributed, task):
    flags = []
    if args.config_path:
        config = Path(args.config_path)
        if not config.exists() and (model_folder(args.model) / config).is_file():
            config = model_folder(args.model) / config
        flags.append(f"--config_path={_abs(config) if config.exists() else args.config_path}")
    flags += [f"--device_target={backend.name}", f"--is_distributed={1 if distributed else 0}"]
    if args.data:
        flags.append(f"--data_dir={_abs(args.data)}")
    if args.ckpt:
        flags.append(f"--pre_trained={_abs(args.ckpt)}")
    return flags + list(args.extra)


def read_rank_table(path, node_rank):
    """(world size, [(device_id, rank_id), ...] of server ``node_rank``) from an upstream rank table."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        servers = table["server_list"]
        devices = [[(int(d["device_id"]), int(d["rank_id"])) for d in server["device"]] for server in servers]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--rank_table {path}: not an hccl rank table ({exc.__class__.__name__}: {exc}); "
                         f"write one with scripts/hccl_tools.py") from None
    if not 0 <= node_rank < len(devices):
        raise UsageError(f"--node_rank {node_rank}: the rank table lists {len(devices)} server(s)")
    return sum(len(d) for d in devices), devices[node_rank]


def core_ranges(ranks, cpus=None):
    """Upstream's taskset binding: avg = cpus // ranks cores per rank, rank i gets i*avg .. i*avg+avg-1."""
    cpus = cpus or os.cpu_count() or 1
    avg = cpus // max(ranks, 1)
    if avg < 1:
        return [None] * ranks
    return [f"{i * avg}-{i * avg + avg - 1}" for i in range(ranks)]


def choose(args, backend):
    """The launcher for this job: asked for, else 'single' for one process, else the device's preference."""
    ranks_asked = (args.nproc or 0) * args.nnodes
    if args.launcher:
        if args.launcher != "single":
            try:
                backend.choose_launcher(args.launcher)
            except DeviceError as exc:
                raise UsageError(str(exc)) from None
        return args.launcher
    if args.rank_table:
        return backend.choose_launcher("rank_table") if "rank_table" in backend.launchers else \
            backend.choose_launcher(None)
    if ranks_asked == 1 and not args.worker_num:
        return "single"
    launcher = backend.choose_launcher(None)
    if launcher == "rank_table":   # no rank table given: the next launcher this device supports
        rest = [name for name in backend.launchers if name != "rank_table"]
        launcher = backend.choose_launcher(rest[0]) if rest else launcher
    return launcher


def build_plan(args):
    if args.task not in TASKS:
        raise UsageError(f"unknown task {args.task!r}")
    folder = model_folder(args.model)
    try:
        backend = get_backend(args.device or "CPU")
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    for name, value in (("--nproc", args.nproc), ("--nnodes", args.nnodes), ("--worker_num", args.worker_num),
                        ("--local_worker_num", args.local_worker_num)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if args.node_rank < 0:
        raise UsageError(f"--node_rank must be at least 0, got {args.node_rank}")
    if args.data and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such folder")
    if args.ckpt and not Path(args.ckpt).exists():
        raise UsageError(f"--ckpt {args.ckpt}: no such file or folder")
    if args.visible_devices and args.nproc and args.nproc > len(args.visible_devices.split(",")):
        raise UsageError(f"--nproc {args.nproc} is more than the {len(args.visible_devices.split(','))} "
                         f"device(s) of --visible_devices {args.visible_devices}")
    if args.rank_table and not Path(args.rank_table).is_file():
        raise UsageError(f"--rank_table {args.rank_table}: no such file")
    if args.config_path and not Path(args.config_path).exists() and not (folder / args.config_path).is_file():
        raise UsageError(f"--config_path {args.config_path}: not found here nor in {folder}")
    script = Path(args.script).resolve() if args.script else folder / f"{args.task}.py"
    if not script.is_file() and not args.dry_run:
        raise UsageError(f"{script} does not exist")
    launcher = choose(args, backend)
    builder = {"msrun": _plan_msrun, "mpirun": _plan_mpirun, "rank_table": _plan_rank_table,
               "single": _plan_single}[launcher]
    return builder(args, backend, folder, script)


def _local_count(args, backend):
    visible = len(args.visible_devices.split(",")) if args.visible_devices else None
    return args.local_worker_num or args.nproc or visible or backend.default_nproc


def _plan_single(args, backend, folder, script):
    cwd = Path.cwd()
    env = dict(base_env(backend, args))
    env.update(dict(zip(backend.rank_env, ("0", "1", str(args.device_start)))))
    log = Path(args.log_file or ("log.txt" if args.task == "train" else "output.eval.log")).resolve()
    argv = [_python(), str(script)] + script_flags(args, backend, False, args.task)
    proc = Proc("process", argv, env, cwd, log)
    return Plan(args.task, args.model, backend, "single", 1, [proc], [log])


def _plan_msrun(args, backend, folder, script):
    if args.node_rank >= args.nnodes:
        raise UsageError(f"--node_rank {args.node_rank} must be in [0, --nnodes={args.nnodes})")
    local = _local_count(args, backend)
    world = args.worker_num or local * args.nnodes
    if world < local:
        raise UsageError(f"--worker_num {world} is smaller than the {local} worker(s) of this node")
    port = args.master_port or DEFAULT_PORT
    cwd = Path.cwd()
    log_dir = Path(args.log_dir or "msrun_log").resolve()
    argv = [_tool("msrun"), f"--worker_num={world}", f"--local_worker_num={local}",
            f"--master_addr={args.master_addr}", f"--master_port={port}", f"--node_rank={args.node_rank}",
            f"--log_dir={log_dir}", "--join=True"]
    if args.cluster_time_out:
        argv.append(f"--cluster_time_out={args.cluster_time_out}")
    argv += [str(script)] + script_flags(args, backend, True, args.task)
    env = base_env(backend, args)
    proc = Proc("msrun", argv, env, cwd, Path(args.log_file or log_dir / "msrun.log").resolve())
    rank_var, size_var, dev_var = backend.rank_env
    first = args.node_rank * local
    if args.node_rank == 0:
        proc.notes.append(f"scheduler (set by msrun): MS_ROLE=MS_SCHED MS_SCHED_HOST={args.master_addr} "
                          f"MS_SCHED_PORT={port} MS_WORKER_NUM={world} log {log_dir / 'scheduler.log'}")
    for i in range(local):
        rank = first + i
        proc.notes.append(f"rank {rank} (set by msrun): MS_ROLE=MS_WORKER MS_NODE_ID={rank} MS_WORKER_NUM={world} "
                          f"MS_SCHED_HOST={args.master_addr} MS_SCHED_PORT={port} {rank_var}={rank} "
                          f"{size_var}={world} {dev_var}={i} log {log_dir / f'worker_{rank}.log'}")
    logs = [log_dir / f"worker_{first + i}.log" for i in range(local)]
    return Plan(args.task, args.model, backend, "msrun", world, [proc], logs)


def _plan_mpirun(args, backend, folder, script):
    if args.nnodes > 1 or args.worker_num:
        raise UsageError("multi-node runs go through msrun here (--launcher msrun --nnodes M --node_rank K); "
                         "for mpirun across hosts use your hostfile with mpirun directly")
    ranks = _local_count(args, backend)
    cwd = Path.cwd()
    env = base_env(backend, args)
    log = Path(args.log_file or f"output.{args.task}.log").resolve()
    python_cmd = [_python(), str(script)] + script_flags(args, backend, True, args.task)
    argv = [_tool("mpirun"), "--allow-run-as-root"]
    rank_var, size_var, dev_var = backend.rank_env
    notes = []
    if backend.mpirun_init:
        argv += ["-n", str(ranks), "--output-filename", "log_output", "--merge-stderr-to-stdout"]
        for name in env:
            argv += ["-x", name]
        argv += python_cmd
        notes = [f"rank {r} (set by OpenMPI, read by MindSpore): OMPI_COMM_WORLD_RANK={r} -> {rank_var}={r}, "
                 f"OMPI_COMM_WORLD_SIZE={ranks} -> {size_var}={ranks}, OMPI_COMM_WORLD_LOCAL_RANK={r} -> "
                 f"{dev_var}={r}" for r in range(ranks)]
    else:
        # MindSpore cannot take its ranks from OpenMPI on this device: mpirun spawns a scheduler and the workers
        # as MPMD contexts, each with MindSpore's dynamic-cluster variables.
        port = args.master_port or DEFAULT_PORT
        common = {"MS_WORKER_NUM": ranks, "MS_SCHED_HOST": args.master_addr, "MS_SCHED_PORT": port}
        argv += ["--oversubscribe", "--output-filename", "log_output", "--merge-stderr-to-stdout"]
        unset = [item for name in OMPI_RANK_VARS for item in ("-u", name)]
        contexts = [dict(common, MS_ROLE="MS_SCHED", **{rank_var: 0, size_var: ranks, dev_var: 0})]
        contexts += [dict(common, MS_ROLE="MS_WORKER", MS_NODE_ID=r, **{rank_var: r, size_var: ranks, dev_var: r})
                     for r in range(ranks)]
        for index, ctx in enumerate(contexts):
            if index:
                argv.append(":")
            argv += ["-n", "1", "env"] + unset + [f"{k}={v}" for k, v in ctx.items()] + python_cmd
            who = "scheduler" if index == 0 else f"rank {index - 1}"
            notes.append(f"{who} (mpirun process {index}): " + " ".join(f"{k}={v}" for k, v in ctx.items()))
    proc = Proc("mpirun", argv, env, cwd, log, notes=notes)
    return Plan(args.task, args.model, backend, "mpirun", ranks, [proc], [log])


def _plan_rank_table(args, backend, folder, script):
    if not args.rank_table:
        raise UsageError("the rank_table launcher needs --rank_table FILE (write one with scripts/hccl_tools.py)")
    world, devices = read_rank_table(args.rank_table, args.node_rank)
    if args.nproc and args.nproc != len(devices):
        raise UsageError(f"--nproc {args.nproc}: the rank table gives this server {len(devices)} device(s)")
    rank_var, size_var, dev_var = backend.rank_env
    table = _abs(args.rank_table)
    cwd = Path.cwd()
    form = getattr(args, "form", None)      # a model script's upstream folders, log name and core binding
    rank_dir = (form and form.rank_dir) or ("train_parallel{i}" if args.task == "train" else "eval_parallel{i}")
    rank_log = (form and form.rank_log) or "log"
    cores = core_ranges(len(devices)) if form is None or form.taskset else [None] * len(devices)
    copies = sorted(p.name for p in folder.iterdir() if p.suffix in (".py", ".yaml") or
                    (p.is_dir() and p.name in ("src", "model_utils")))
    flags = script_flags(args, backend, True, args.task)
    procs, logs = [], []
    for i, (device_id, rank_id) in enumerate(devices):
        workdir = cwd / rank_dir.format(i=i)
        env = dict(base_env(backend, args))
        env.update({"RANK_TABLE_FILE": table, size_var: world, dev_var: device_id, rank_var: rank_id})
        argv = ([shutil.which("taskset") or "taskset", "-c", cores[i]] if cores[i] and shutil.which("taskset")
                else []) + [_python(), script.name if not args.script else str(script)] + flags
        prepare = [f"rm -rf {workdir}; mkdir {workdir}", f"copy {', '.join(copies)} from {folder}",
                   f"env > {workdir / 'env.log'}"]
        procs.append(Proc(f"rank {rank_id}", argv, env, workdir, workdir / rank_log, prepare=prepare,
                          workdir=workdir))
        logs.append(workdir / rank_log)
    return Plan(args.task, args.model, backend, "rank_table", world, procs, logs)


# ---------------------------------------------------------------------------------------------------------------
# printing and running
# ---------------------------------------------------------------------------------------------------------------

def describe(plan):
    lines = [f"launcher: {plan.launcher} ({plan.task} {plan.model} on {plan.backend.name}, communication "
             f"{plan.backend.comm_backend}, {plan.ranks} rank(s))"]
    for proc in plan.procs:
        lines.append(f"{proc.label}: cwd {proc.cwd}")
        for step in proc.prepare:
            lines.append(f"{proc.label}: prepare {step}")
        lines.append(f"{proc.label}: env " + (" ".join(f"{k}={v}" for k, v in proc.env.items()) or "(inherited)"))
        lines.append(f"{proc.label}: cmd {shlex.join(proc.argv)}")
        lines.append(f"{proc.label}: log {proc.log}")
        lines += [f"  {note}" for note in proc.notes]
    return lines


def _prepare(proc, folder):
    if proc.workdir is None:
        return
    shutil.rmtree(proc.workdir, ignore_errors=True)
    proc.workdir.mkdir(parents=True)
    for item in folder.iterdir():
        if item.suffix in (".py", ".yaml") and item.is_file():
            shutil.copy2(item, proc.workdir / item.name)
        elif item.is_dir() and item.name in ("src", "model_utils"):
            shutil.copytree(item, proc.workdir / item.name, ignore=shutil.ignore_patterns("__pycache__"))


def _child_env(proc):
    env = dict(os.environ)
    env.update({k: str(v) for k, v in proc.env.items()})
    return env


class TracebackFilter:
    """Drops a launcher's own Python traceback (msrun's ``RuntimeError: Distributed job exited with exception``)
    from the console; the log keeps it.  The failing worker's own error line is printed last instead."""

    def __init__(self):
        self.inside = False

    def keep(self, line):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if text.startswith("Traceback (most recent call last):"):
            self.inside = True
            return False
        if self.inside:
            if text[:1].isspace():
                return False
            self.inside = False
            return False  # the exception line that ends the traceback
        return True


def _pump(stream, sinks, console_filter=None):
    for line in iter(stream.readline, b""):
        for index, sink in enumerate(sinks):
            if index == 0 and console_filter is not None and not console_filter.keep(line):
                continue
            sink.write(line)
            sink.flush()
    stream.close()


ERROR_PREFIXES = ("error:", "stopped:")


def worker_error(plan):
    """'rank R: error: ...': the first failing worker's own one-line error, from the workers' logs (None if no
    worker wrote one)."""
    logs = list(plan.logs)
    if plan.launcher == "mpirun":  # per-process files of --output-filename (the CPU form's process 0: scheduler)
        found = sorted(Path(plan.procs[0].cwd, "log_output").glob("*/rank.*/stdout"),
                       key=lambda p: int(p.parent.name.split(".")[-1]))
        logs = found[1:] if not plan.backend.mpirun_init else found
    found = []
    for rank, log in enumerate(logs):
        try:
            lines = Path(log).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        errors = [line.strip() for line in lines if line.startswith(ERROR_PREFIXES)]
        if errors:
            label = re.search(r"(\d+)", Path(log).stem if plan.launcher == "msrun" else "")
            # a worker's own one-line error first; 'error: RuntimeError: ... (run with --debug ...)' is often only
            # the echo of another rank's failure (a timed-out peer)
            found.append(("--debug" in errors[-1], len(found), f"rank {label.group(1) if label else rank}: "
                                                               f"{errors[-1]}"))
    return min(found)[2] if found else None


def run(plan, background=False, out=None):
    """Start the plan's processes; wait for them unless ``background``.  Returns the exit code."""
    out = out or sys.stdout.buffer
    folder = model_folder(plan.model)
    started = []
    for proc in plan.procs:
        _prepare(proc, folder)
        env = _child_env(proc)
        if proc.workdir is not None:
            (proc.workdir / "env.log").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        proc.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(proc.log, "wb")
        tee = not background and len(plan.procs) == 1
        child = subprocess.Popen(proc.argv, cwd=proc.cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE if tee else log, stderr=subprocess.STDOUT,
                                 start_new_session=background)
        pump = None
        if tee:
            console_filter = TracebackFilter() if plan.launcher != "single" else None
            pump = threading.Thread(target=_pump, args=(child.stdout, [out, log], console_filter), daemon=True)
            pump.start()
        started.append((proc, child, log, pump))
        print(f"started {proc.label} (pid {child.pid}), log {proc.log}", file=sys.stderr, flush=True)
    if background:
        for _, _, log, _ in started:
            log.close()
        return 0
    worst = 0
    try:
        for proc, child, log, pump in started:
            code = child.wait()
            if pump is not None:
                pump.join()
            log.close()
            if code != 0:
                worst = worst or code
                print(f"{proc.label} exited with {code}; see {proc.log}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        for _, child, _, _ in started:
            child.terminate()
        return 130
    if worst and plan.launcher != "single":
        line = worker_error(plan)
        if line:
            print(line, file=sys.stderr, flush=True)  # the last line: which rank failed and why
    return worst


def _python_first_on_path():
    """msrun / mpirun start ``python`` from PATH: make it (and the venv's msrun) this interpreter's."""
    bindir = str(Path(_python()).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bindir]:
        os.environ["PATH"] = bindir + os.pathsep + path
        return {"PATH": os.environ["PATH"]}
    return {}


def launch(args):
    dry = bool(args.dry_run) or _env_flag("MODEL_ZOO_DRY_RUN")
    args.dry_run = dry
    _PATH_CHANGE.update(_python_first_on_path())
    plan = build_plan(args)
    if dry:
        print("\n".join(describe(plan)), flush=True)
        script = next((a for a in plan.procs[0].argv if a.endswith(".py")), None)
        if script and not Path(plan.procs[0].cwd, script).is_file() and not Path(script).is_file():
            print(f"note: {script} does not exist yet", flush=True)
        return 0
    check_before_spawn(args, plan)
    for line in describe(plan):
        print(line, file=sys.stderr, flush=True)
    return run(plan, background=args.background or _env_flag("MODEL_ZOO_BACKGROUND"))


def check_before_spawn(args, plan):
    """Once, before any process starts: the device is usable here, and the model's own train.py / eval.py accepts
    the flags and YAML (a bad flag is one line, not one traceback per rank).  A ``--script`` of the user's own
    (a stand-in, a probe) is started as asked."""
    if args.script:
        return
    quiet = "GLOG_v" not in os.environ
    if quiet:  # MindSpore's plugin-loading warnings would bury the one line that matters
        os.environ["GLOG_v"] = "3"
    try:
        plan.backend.require()
    finally:
        if quiet:
            os.environ.pop("GLOG_v", None)
    from model_zoo.engine import cli

    flags = script_flags(args, plan.backend, plan.launcher != "single", args.task)
    cli.resolve(args.task, args.model, flags)


# ---------------------------------------------------------------------------------------------------------------
# the models' shell scripts: python -m model_zoo.engine.launcher script SCRIPT.sh [MODEL FLAGS] -- USER ARGS
# ---------------------------------------------------------------------------------------------------------------

# Every script name has a generic form (below); a model folder declares its upstream forms in its own
# ``script_forms.py`` (:func:`model_zoo.engine.registry.register_scripts`), which win for that model.

def _generic(task, device, launcher=None, required=("DATA_PATH",), optional=()):
    kinds = {"DATA_PATH": "data", "RANK_TABLE_FILE": "rank_table", "CHECKPOINT_PATH": "ckpt", "N": "nproc",
             "DEVICE_ID": "device_id"}
    args = tuple(ScriptArg(n, kinds[n]) for n in required) + tuple(ScriptArg(n, kinds[n], optional=True)
                                                                    for n in optional)
    return ScriptForm(task, device, launcher, args)


_RANK_TABLE = ("RANK_TABLE_FILE", "DATA_PATH")
SCRIPTS = {
    "run_distribute_train_gpu": _generic("train", "GPU"),
    "run_distribute_train": _generic("train", "Ascend", "rank_table", _RANK_TABLE),
    "run_distribute_train_ascend": _generic("train", "Ascend", "rank_table", _RANK_TABLE),
    "run_distribute_train_cpu": _generic("train", "CPU", optional=("N",)),
    "run_standalone_train_cpu": _generic("train", "CPU", "single"),
    "run_standalone_train_gpu": _generic("train", "GPU", "single", optional=("DEVICE_ID",)),
    "run_standalone_train_ascend": _generic("train", "Ascend", "single", optional=("DEVICE_ID",)),
    "run_eval_cpu": _generic("eval", "CPU", "single", ("DATA_PATH", "CHECKPOINT_PATH")),
    "run_eval_gpu": _generic("eval", "GPU", "single", ("DATA_PATH", "CHECKPOINT_PATH"), ("DEVICE_ID",)),
    "run_eval_ascend": _generic("eval", "Ascend", "single", ("DATA_PATH", "CHECKPOINT_PATH"), ("DEVICE_ID",)),
    "run_distribute_eval": _generic("eval", "Ascend", "rank_table", _RANK_TABLE + ("CHECKPOINT_PATH",)),
    "run_distribute_eval_gpu": _generic("eval", "GPU", None, ("DATA_PATH", "CHECKPOINT_PATH")),
    "run_distribute_eval_cpu": _generic("eval", "CPU", None, ("DATA_PATH", "CHECKPOINT_PATH"), ("N",)),
}


def _script_key(script_path):
    name = Path(script_path).name
    return name[:-3] if name.endswith(".sh") else name


def _script_model(script_path):
    """The model folder a script belongs to: <model>/scripts/<script>.sh."""
    return Path(script_path).resolve().parent.parent.name


def script_forms(model):
    """Every script form of a model folder: the generic ones, overridden / extended by the model's own."""
    return dict(SCRIPTS, **registry.script_forms(model))


def script_form(model, script):
    """The form of ``script`` (a name, with or without .sh, or a path) for model folder ``model``."""
    return script_forms(model).get(_script_key(script))


def script_usage(path, spec):
    return spec.usage(Path(path).name)


def _integer(arg, value, least):
    if not value.isdigit() or int(value) < least:
        kind = "positive" if least else "non-negative"
        raise UsageError(f"{arg.name} must be a {kind} integer, got {value!r}")
    return value


def _positional(arg, value, folder):
    """(launcher options, YAML or None, train.py / eval.py flags) that one positional argument stands for."""
    if arg.choices and value not in arg.choices:
        raise UsageError(f"{arg.name} {value!r} is not one of {', '.join(arg.choices)}")
    kind, flags = arg.kind, [f"--{arg.flag}={value}"] if arg.flag else []
    if kind == "data":
        if not Path(value).is_dir():
            raise UsageError(f"{arg.name} {value} is not a directory")
        return ["--data", value], None, flags
    if kind == "rank_table":
        if not Path(value).is_file():
            raise UsageError(f"{arg.name} {value} is not a file")
        return ["--rank_table", value], None, flags
    if kind == "ckpt":
        if not Path(value).exists():
            raise UsageError(f"{arg.name} {value} does not exist")
        return ["--ckpt", value], None, flags
    if kind == "nproc":
        return ["--nproc", _integer(arg, value, 1)], None, flags
    if kind == "device_id":
        return ["--device_start", _integer(arg, value, 0)], None, flags
    if kind == "visible_devices":
        if not re.fullmatch(r"\d+(,\d+)*", value):
            raise UsageError(f"{arg.name} must list device ids like 0,1,2,3, got {value!r}")
        return ["--visible_devices", value], None, flags
    if kind == "device":
        try:
            name = get_backend(value).name
        except DeviceError as exc:
            raise UsageError(f"{arg.name}: {exc}") from None
        return ["--device", name], None, flags
    if kind == "config":
        if arg.config is None:
            if not Path(value).is_file() and not (folder / value).is_file():
                raise UsageError(f"{arg.name} {value}: not found here nor in {folder}")
            return [], value, flags
        config = arg.config.get(value) if isinstance(arg.config, dict) else arg.config.format(value)
        if config and not (folder / config).is_file():
            raise UsageError(f"{arg.name} {value!r}: {folder / config} does not exist")
        return [], config, flags
    return [], None, flags                                   # kind 'flag'


def _fit(form, positionals, folder):
    """[(launcher options, YAML, flags)] of ``positionals`` under ``form``; UsageError when they do not fit it."""
    if len(positionals) < len(form.required):
        raise UsageError(f"missing {' '.join(form.required[len(positionals):])}")
    if len(positionals) > len(form.args):
        raise UsageError(f"unexpected argument {positionals[len(form.args)]!r}; flags take the form --key=value")
    given = positionals + [arg.default for arg in form.args[len(positionals):]]
    return [_positional(arg, value, folder) for arg, value in zip(form.args, given) if value]


def match_form(spec, positionals, folder):
    """(form, resolved positionals): the script's form, else the first of its older upstream forms the arguments
    fit; the error is the current form's (naming the older forms)."""
    try:
        return spec, _fit(spec, positionals, folder)
    except UsageError as exc:
        for older in spec.legacy:
            try:
                return older, _fit(older, positionals, folder)
            except UsageError:
                continue
        if spec.legacy:
            forms = " or ".join(older.arguments() for older in spec.legacy)
            raise UsageError(f"{exc.args[0]} (older form: {forms})") from None
        raise


def script_args(script_path, defaults, user):
    """(launcher arguments, the form used) for a model script: its model and defaults, the user's positionals and
    flags."""
    model = _script_model(script_path)
    spec = script_form(model, script_path)
    if spec is None:
        raise UsageError(f"{Path(script_path).name} is not a launcher script this zoo knows "
                         f"({', '.join(sorted(script_forms(model)))})")
    user = list(user)
    positionals = []
    most = max(len(form.args) for form in (spec,) + tuple(spec.legacy))
    while user and not user[0].startswith("-") and len(positionals) < most:
        positionals.append(user.pop(0))
    folder = model_folder(model)
    spec, resolved = match_form(spec, positionals, folder)
    launcher_opts, flags = [], []
    rest = list(user)
    while rest:
        token = rest.pop(0)
        option = token.split("=", 1)[0]
        if option in JOB_OPTIONS:
            launcher_opts.append(token)
            if "=" not in token and option not in FLAG_OPTIONS and rest:
                launcher_opts.append(rest.pop(0))
        elif token.startswith("--"):
            flags.append(token)
        else:
            raise UsageError(f"unexpected argument {token!r}; flags take the form --key=value")
    argv = [spec.task, "--model", model]
    if spec.device:
        argv += ["--device", spec.device]
    if spec.launcher:
        argv += ["--launcher", spec.launcher]
    elif os.environ.get("MODEL_ZOO_LAUNCHER"):
        argv += ["--launcher", os.environ["MODEL_ZOO_LAUNCHER"]]
    configs = [d.split("=", 1)[1] for d in defaults if d.startswith("--config_path=")]
    positional_flags = []
    for options, config, more in resolved:
        argv += options
        configs += [config] if config else []
        positional_flags += more
    if configs:
        argv += ["--config_path", configs[-1]]
    if spec.log:
        argv += ["--log_file", spec.log]
    argv += launcher_opts
    return argv + ["--"] + [d for d in defaults if not d.startswith("--config_path=")] + positional_flags + flags, \
        spec


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    script_mode = bool(argv) and argv[0] == "script"
    usage = USAGE
    form = None
    try:
        if script_mode:
            if len(argv) < 2:
                raise UsageError("script mode needs the script path")
            form = script_form(_script_model(argv[1]), argv[1])
            usage = script_usage(argv[1], form) if form else usage
            defaults, user = split_args(argv[2:])
            argv, form = script_args(argv[1], defaults, user)
        if argv and argv[0] in ("-h", "--help"):
            print(usage)
            return 0
        args = parse(argv)
        args.form = form
        return launch(args)
    except UsageError as exc:
        print(usage, file=sys.stderr)
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1 if script_mode else 2
    except ZooError as exc:  # the device or the script's flags, checked before anything was started
        print(f"error: {exc}", file=sys.stderr)
        return 1 if script_mode else exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
