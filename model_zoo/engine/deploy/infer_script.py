"""``scripts/run_infer_310.sh`` of every model folder: the upstream 310 offline-inference chain, in the current folder.

    python -m model_zoo.engine.deploy.infer_script SCRIPT.sh "APP FLAG TEMPLATE" [positionals] [--key=value ...]

Every positional form the upstream READMEs and scripts show is accepted; which one is meant follows from the
arguments themselves:

* zoo / master ``run_infer_cpp.sh`` form: ``MINDIR_PATH DATASET_NAME DATA_PATH NEED_PREPROCESS [DEVICE_TARGET]
  [DEVICE_ID]`` (DATASET_NAME imagenet2012|imagenet|cifar10|folder, NEED_PREPROCESS y|n);
* r1.x device-id form: ``MINDIR_PATH DATASET_NAME DATA_PATH NEED_PREPROCESS DEVICE_ID`` (a number in 5th place is the device
  id; the device is then Ascend, the 310's);
* r1.x label-file form: ``MINDIR_PATH DATASET DATA_PATH LABEL_FILE [DEVICE_ID]`` (a label file in 4th place, ``img_id:label``
  lines; ``ImageNet`` any case; upstream read the device id from the 4th argument, a bug: here the 5th);
* r1.x images-and-labels form: ``MINDIR_PATH DATA_PATH LABEL_FILE [DEVICE_ID]`` (no data-set name: ImageNet images).

Steps (as upstream): preprocess (when asked) -> ``preprocess_Result/`` and ``preprocess.log``; inference ->
``result_Files/<name>_0.bin``, ``time_Result/`` and ``infer.log`` (the user's compiled
``<model>/ascend310_infer/out/main`` on Ascend when it exists, else the Python runner); postprocess -> ``acc.log``
(the recipe's eval lines, ``Top1 acc`` / ``Top5 acc`` and the recipe's upstream postprocess lines, e.g.
``accuracy:``), printed at the end.  ``MODEL_ZOO_DRY_RUN=1`` or ``--dry_run`` prints the resolved form,
the three commands and their logs, and runs nothing.  A bad argument prints the usage and one ``error:`` line
(exit 1).
"""
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

DATASETS = ("imagenet2012", "imagenet", "cifar10", "folder")
USAGE = ("usage: bash scripts/run_infer_310.sh MINDIR_PATH DATASET_NAME DATA_PATH NEED_PREPROCESS [DEVICE_TARGET] "
         "[DEVICE_ID] [--key=value ...]\n"
         "   or: bash scripts/run_infer_310.sh MINDIR_PATH DATASET_NAME DATA_PATH NEED_PREPROCESS DEVICE_ID\n"
         "   or: bash scripts/run_infer_310.sh MINDIR_PATH DATASET DATA_PATH LABEL_FILE [DEVICE_ID]\n"
         "   or: bash scripts/run_infer_310.sh MINDIR_PATH DATA_PATH LABEL_FILE [DEVICE_ID]")


class UsageError(Exception):
    pass


@dataclass
class Job:
    form: str
    model_file: Path
    dataset: str
    data: Path
    preprocess: bool
    device: str = "CPU"
    device_id: str = "0"
    label_file: Path = None
    extra: list = field(default_factory=list)


def _device(value):
    from model_zoo.engine.device import BACKENDS

    for name in BACKENDS:
        if value.lower() == name.lower():
            return name
    raise UsageError(f"DEVICE_TARGET must be one of {', '.join(BACKENDS)}, got {value!r}")


def _offline_device():
    """The device of the r1.x forms: the one the upstream offline-inference app runs on (the device registry's)."""
    from model_zoo.engine.device import BACKENDS

    return next(backend.name for backend in BACKENDS.values() if backend.offline_app)


def _device_id(value):
    if not value.isdigit():
        raise UsageError(f"DEVICE_ID must be a non-negative integer, got {value!r}")
    return value


def _dataset(value):
    name = value.lower()
    if name not in DATASETS:
        raise UsageError(f"DATASET_NAME must be imagenet2012 or cifar10, got {value!r}")
    return "imagenet2012" if name == "imagenet" else name


def parse(args):
    """The :class:`Job` the arguments stand for (see the module docstring for the forms)."""
    positional = [a for a in args if not a.startswith("--")]
    extra = [a for a in args if a.startswith("--")]
    if len(positional) < 3 or len(positional) > 6:
        raise UsageError(f"expected 3 to 6 positional arguments, got {len(positional)}")
    model = Path(positional[0]).expanduser().resolve()
    if not model.is_file():
        raise UsageError(f"model file {model} not found (MINDIR_PATH)")
    second = positional[1]
    if second.lower() not in DATASETS:                      # r1.x: MINDIR DATA_PATH LABEL_FILE [ID]
        if len(positional) > 4:
            raise UsageError(f"DATASET_NAME must be imagenet2012 or cifar10, got {second!r}")
        job = Job("r1-images-labels", model, "imagenet2012", Path(second), False,
                  device_id=_device_id(positional[3]) if len(positional) == 4 else "0",
                  label_file=Path(positional[2]))
        job.device = _offline_device() if len(positional) == 4 else "CPU"
    else:
        if len(positional) < 4:
            raise UsageError("missing NEED_PREPROCESS (y|n) or LABEL_FILE")
        dataset, data, fourth = _dataset(second), Path(positional[2]), positional[3]
        rest = positional[4:]
        if fourth.lower() in ("y", "n"):
            job = Job("zoo", model, dataset, data, fourth.lower() == "y")
            if len(rest) == 1 and rest[0].isdigit():         # r1.x: ... NEED_PREPROCESS DEVICE_ID
                job.form, job.device, job.device_id = "r1-device-id", _offline_device(), rest[0]
            elif rest:
                job.device = _device(rest[0])
                job.device_id = _device_id(rest[1]) if len(rest) > 1 else "0"
        elif Path(fourth).is_file():                           # r1.x: ... LABEL_FILE [DEVICE_ID]
            if dataset == "cifar10":
                raise UsageError("the LABEL_FILE form reads ImageNet images; for CIFAR-10 use MINDIR_PATH cifar10 "
                                 "DATA_PATH y (the zoo form, which writes the .bin batches)")
            if len(rest) > 1:
                raise UsageError(f"unexpected argument {rest[1]!r}")
            job = Job("r1-label-file", model, dataset, data, False, device=_offline_device() if rest else "CPU",
                      device_id=_device_id(rest[0]) if rest else "0", label_file=Path(fourth))
        else:
            raise UsageError(f"NEED_PREPROCESS must be y or n (or a LABEL_FILE that exists), got {fourth!r}")
    job.data = job.data.expanduser().resolve()
    if not job.data.exists():
        raise UsageError(f"data path {job.data} does not exist (DATA_PATH)")
    if job.label_file is not None:
        job.label_file = job.label_file.expanduser().resolve()
        if not job.label_file.is_file():
            raise UsageError(f"label file {job.label_file} not found (LABEL_FILE)")
    job.extra = extra
    return job


def steps(job, model, app_template, model_dir):
    """[(name, argv, log)] of the chain; the inference step is the user's Ascend app when it exists."""
    python = os.environ.get("PYTHON") or sys.executable
    deploy = [python, "-m", "model_zoo.engine.deploy"]
    common = [f"--dataset={job.dataset}", f"--device_target={job.device}", f"--device_id={job.device_id}"] + job.extra
    cifar = job.dataset == "cifar10"
    inputs = "./preprocess_Result/00_data" if cifar else str(job.data)
    labels = str(job.label_file) if job.label_file else (
        "./preprocess_Result/cifar10_label_ids.npy" if cifar else "./preprocess_Result/imagenet_label.json")
    plan = []
    if job.preprocess:
        plan.append(("preprocess", deploy + ["preprocess", "--model", model] + common + [
            f"--data_dir={job.data}", "--result_path=./preprocess_Result/", f"--model_file={job.model_file}"],
                     "preprocess.log"))
    app = model_dir / "ascend310_infer" / "out" / "main"
    from model_zoo.engine.device import get_backend

    if get_backend(job.device).offline_app and os.access(app, os.X_OK):
        flags = app_template.format(model=job.model_file, dataset=job.dataset, input=inputs, device_id=job.device_id)
        plan.append(("infer", [str(app)] + shlex.split(flags), "infer.log"))
    else:
        plan.append(("infer", deploy + ["infer", "--model", model] + common + [
            f"--model_file={job.model_file}", f"--data_dir={inputs}", "--infer_out_dir=."], "infer.log"))
    plan.append(("postprocess", deploy + ["postprocess", "--model", model] + common + [
        "--result_dir=./result_Files", f"--label_dir={labels}"], "acc.log"))
    return plan


def _ascend_env():
    """The r1.x Ascend toolkit environment of the 310 app, when the toolkit is installed."""
    home = Path("/usr/local/Ascend/ascend-toolkit/latest")
    if not home.is_dir():
        return {}
    return {"ASCEND_HOME": str(home), "ASCEND_OPP_PATH": str(home / "opp"),
            "PATH": f"{home}/compiler/bin:{home}/compiler/ccec_compiler/bin:{os.environ.get('PATH', '')}",
            "LD_LIBRARY_PATH": f"{home}/lib64:/usr/local/Ascend/driver/lib64:{os.environ.get('LD_LIBRARY_PATH', '')}"}


def _last_error(log):
    lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.startswith("error:")]
    return lines[-1][len("error: "):] if lines else f"see {log}"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    script, app_template, args = Path(argv[0]), argv[1], argv[2:]
    model_dir = script.resolve().parent.parent
    model = model_dir.name
    dry = "--dry_run" in args or os.environ.get("MODEL_ZOO_DRY_RUN", "").lower() in ("1", "true", "yes")
    args = [a for a in args if a != "--dry_run"]
    try:
        job = parse(args)
    except UsageError as exc:
        print(USAGE, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"mindir name: {job.model_file}")
    print(f"dataset name: {job.dataset}")
    print(f"dataset path: {job.data}")
    print(f"need preprocess: {'y' if job.preprocess else 'n'}")
    if job.label_file:
        print(f"label file: {job.label_file}")
    print(f"device target: {job.device}")
    print(f"device id: {job.device_id}")
    plan = steps(job, model, app_template, model_dir)
    if dry:
        print(f"launcher: infer310 (infer {model} on {job.device}, form {job.form})")
        for name, command, log in plan:
            print(f"{name}: cmd {shlex.join(command)}")
            print(f"{name}: log {Path(log).resolve()}")
        return 0
    env = dict(os.environ)
    root = str(model_dir.parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name, command, log in plan:
        if name == "preprocess":
            shutil.rmtree("preprocess_Result", ignore_errors=True)
        if name == "infer":
            for folder in ("result_Files", "time_Result"):
                shutil.rmtree(folder, ignore_errors=True)
                Path(folder).mkdir()
        step_env = dict(env, **(_ascend_env() if command[0].endswith("ascend310_infer/out/main") else {}))
        with open(log, "wb") as handle:
            code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, env=step_env)
        if code != 0:
            print(f"error: {name} failed: {_last_error(log)} (see {log})", file=sys.stderr)
            return 1
    sys.stdout.write(Path("acc.log").read_text(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
