"""Starting a plan's processes: their logs, the console tee, and the failing worker's one-line error last.

Also the dry-run description of a plan and the rank-table working folders (copies of the model folder).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from model_zoo.engine.console import note
from model_zoo.engine.launcher_args import model_folder


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
        note(f"started {proc.label} (pid {child.pid}), log {proc.log}")
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
                note(f"{proc.label} exited with {code}; see {proc.log}")
    except KeyboardInterrupt:
        for _, child, _, _ in started:
            child.terminate()
        return 130
    if worst and plan.launcher != "single":
        line = worker_error(plan)
        if line:
            note(line)  # the last line: which rank failed and why
    return worst

