"""The launcher's command line: its options, their parsing, the usage line, and the ``--model`` folder check."""
import argparse
import os
from pathlib import Path

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



def _abs(path):
    return str(Path(path).expanduser().resolve())


def model_folder(name):
    folder = ZOO_DIR / str(name)
    if not name or name == "engine" or not (folder / "__init__.py").is_file():
        models = sorted(p.name for p in ZOO_DIR.iterdir() if (p / "__init__.py").is_file() and p.name != "engine")
        raise UsageError(f"--model {name!r} is not a model folder of model_zoo; choose one of {', '.join(models)}")
    return folder

