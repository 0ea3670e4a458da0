"""The models' ``scripts/run_*.sh``: their positional arguments (generic or upstream form) as launcher arguments.

``python -m model_zoo.engine.launcher script SCRIPT.sh [MODEL FLAGS] -- USER ARGS``.
"""
import os
import re
from pathlib import Path

from model_zoo.engine import registry
from model_zoo.engine.device import get_backend
from model_zoo.engine.errors import DeviceError
from model_zoo.engine.launcher_args import FLAG_OPTIONS, JOB_OPTIONS, UsageError, model_folder
from model_zoo.engine.registry import ScriptArg, ScriptForm

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

