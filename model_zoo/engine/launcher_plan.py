"""The processes of one distributed job, planned per launcher: single, msrun, mpirun and rank tables.

:class:`Plan` holds the :class:`Proc` entries (command, environment, working folder, log); mpirun either lets
MindSpore read OpenMPI's ranks or starts MPMD contexts with MindSpore's dynamic-cluster variables (``mpirun_init``).
"""
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from model_zoo.engine.device import get_backend
from model_zoo.engine.errors import DeviceError
from model_zoo.engine.launcher_args import (DEFAULT_PORT, OMPI_RANK_VARS, REPO_ROOT, TASKS, UsageError, _abs,
                                            model_folder)


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



_PATH_CHANGE = {}  # PATH with this interpreter first (launcher.launch), for every process


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

