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

This module is the entry point (pre-spawn checks, launch, ``main``); the parts live beside it:
``launcher_args`` (options, parsing), ``launcher_plan`` (the processes per launcher), ``launcher_run`` (starting
them, logs, the failing worker's error) and ``launcher_scripts`` (the shell scripts' positional forms).
"""
import os
import sys
from pathlib import Path

from model_zoo.engine import launcher_plan
from model_zoo.engine.console import note, say
from model_zoo.engine.errors import ZooError
from model_zoo.engine.launcher_args import USAGE, UsageError, _env_flag, parse, split_args
from model_zoo.engine.launcher_plan import _python, build_plan, core_ranges, script_flags  # noqa: F401 (tests)
from model_zoo.engine.launcher_run import describe, run
from model_zoo.engine.launcher_scripts import _script_model, script_args, script_form, script_forms  # noqa: F401
from model_zoo.engine.launcher_scripts import script_usage


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
    launcher_plan._PATH_CHANGE.update(_python_first_on_path())
    plan = build_plan(args)
    if dry:
        say(*describe(plan))
        script = next((a for a in plan.procs[0].argv if a.endswith(".py")), None)
        if script and not Path(plan.procs[0].cwd, script).is_file() and not Path(script).is_file():
            say(f"note: {script} does not exist yet")
        return 0
    check_before_spawn(args, plan)
    note(*describe(plan))
    return run(plan, background=args.background or _env_flag("MODEL_ZOO_BACKGROUND"))


def check_before_spawn(args, plan):
    """Once, before any process starts: the device is usable here, and the model's own train.py / eval.py accepts
    the flags and YAML (a bad flag is one line, not one traceback per rank).  A ``--script`` of the user's own
    (a stand-in, a probe) is started as asked."""
    if args.script:
        return
    plan.backend.require()  # asks MindSpore without its plugin-loading warnings (engine/device.py)
    from model_zoo.engine import cli

    flags = script_flags(args, plan.backend, plan.launcher != "single", args.task)
    cli.resolve(args.task, args.model, flags)


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
            say(usage)
            return 0
        args = parse(argv)
        args.form = form
        return launch(args)
    except UsageError as exc:
        note(usage)
        note(f"error: {exc.args[0]}")
        return 1 if script_mode else 2
    except ZooError as exc:  # the device or the script's flags, checked before anything was started
        note(f"error: {exc}")
        return 1 if script_mode else exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
