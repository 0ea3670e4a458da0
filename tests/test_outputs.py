"""Runs started from a model folder write where upstream writes, and .gitignore covers every such output: a clone
stays clean after training, evaluation, the 310 chain, the launch scripts and model_zoo.report."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_script

STAMP = "2026-11-30_time_01_11_46"  # runtime.setup's run-folder name: %Y-%m-%d_time_%H_%M_%S
RECIPES = ("vgg19", "densenet121", "inceptionv4")


def _git(repo, *args, check=True):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def ignore_repo(tmp_path_factory):
    """An empty git repository holding only this tree's .gitignore."""
    repo = tmp_path_factory.mktemp("ignore_repo")
    _git(repo, "init", "-q")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    return repo


def _run_outputs(recipe_name):
    """What train.py and eval.py of a model folder write with each of its YAMLs, from the YAMLs' own templates."""
    from model_zoo.engine.cli import resolve
    from model_zoo.engine.registry import get_recipe

    paths = set()
    for yaml in get_recipe(recipe_name).yaml_paths():
        _, cfg = resolve("train", recipe_name, [f"--config_path={yaml}", "--device_target=CPU"])
        root = str(cfg.ckpt_path or "outputs/").rstrip("/")
        out = cfg.output_dir_template.format(ckpt_path=root, log_path=root, datetime=STAMP, rank=0, task="train")
        ckpt_dir = cfg.ckpt_dir_template.format(ckpt_path=root, output_dir=out, rank=0, datetime=STAMP)
        prefix = cfg.ckpt_prefix.format(rank=0)
        paths |= {f"{out}/{STAMP}_rank_0.log", f"{out}/config.yaml", f"{out}/metrics.csv", f"{out}/summary.json",
                  f"{out}/curves.png", f"{ckpt_dir}/{prefix}-1_6.ckpt", f"{ckpt_dir}/best.ckpt",
                  f"{ckpt_dir}/recovery.ckpt", f"{ckpt_dir}/.partial/1234_host_{prefix}-1_6.ckpt.lock",
                  f"{ckpt_dir}/.{prefix}.claim"}
        log_root = str(cfg.get("log_path") or "outputs/").rstrip("/")
        paths.add(f"{log_root}/{STAMP}/{STAMP}_rank_0.log")
        paths.add(f"{cfg.file_name}.mindir")
    return paths


def _script_outputs(model):
    """The logs and per-rank folders of a model folder's scripts/run_*.sh (their declared forms and the launcher's
    defaults)."""
    from model_zoo.engine.registry import script_forms

    paths = {"log.txt", "output.train.log", "output.eval.log", "msrun_log/worker_0.log", "msrun_log/scheduler.log",
             "log_output/1/rank.0/stdout", "train_parallel0/log", "train_parallel0/env.log", "eval_parallel0/log"}
    for script, form in script_forms(model).items():
        for variant in (form, *form.legacy):
            if variant.log:
                paths.add(variant.log)
            if variant.rank_dir:
                folder = variant.rank_dir.format(i=0)
                paths |= {f"{folder}/{variant.rank_log or 'log'}", f"{folder}/env.log", f"{folder}/train.py"}
    return paths


OTHER_OUTPUTS = {"preprocess_Result/imagenet_label.json", "preprocess_Result/00_data/x.bin",
                  "preprocess_Result/cifar10_label_ids.npy", "result_Files/img_0.bin",
                  "time_Result/test_perform_static.txt", "preprocess.log", "infer.log", "acc.log",
                  "vgg19.onnx", "vgg19_int8.onnx", "vgg19.air", "hccl_8p_01234567_10.0.0.1.json", "hccl_2s_16p.json",
                  "runs_curves.png", "rank_0/om/analyze_fail.ir", "demo_run/data/train/0/img.JPEG"}


@pytest.mark.parametrize("model", RECIPES)
def test_gitignore_covers_what_a_model_folder_run_writes(model, ignore_repo):
    wanted = sorted(f"model_zoo/{model}/{path}".replace("/./", "/")
                    for path in _run_outputs(model) | _script_outputs(model) | OTHER_OUTPUTS)
    for path in wanted:
        assert not path.startswith("model_zoo/" + model + "/.."), path        # nothing lands above the folder
    ignored = set(_git(ignore_repo, "check-ignore", "--no-index", *wanted, check=False).stdout.split())
    assert sorted(set(wanted) - ignored) == []


def test_gitignore_hides_no_tracked_file():
    if not (ROOT / ".git").exists():
        pytest.fail("tests run from a git checkout (CI clones the repository)")
    assert _git(ROOT, "ls-files", "-ci", "--exclude-standard").stdout == ""


def test_a_clone_stays_clean_after_runs_in_a_model_folder(tiny_folder, tmp_path):
    """A model folder of a clone (the toy's files in model_zoo/toy/), trained with DenseNet's upstream layout (run
    folder and checkpoints in the folder itself), evaluated with the default log_path and compared with
    model_zoo.report: git sees nothing new."""
    repo = tmp_path / "clone"
    folder = repo / "model_zoo" / "toy"
    shutil.copytree(ROOT / "tests" / "toy_model", folder, ignore=shutil.ignore_patterns("__pycache__", "outputs"))
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tree")
    result = run_script(folder / "train.py", f"--data_dir={tiny_folder}", "--ckpt_path=./",
                        "--ckpt_dir_template={ckpt_path}", "--max_epoch=1", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    (checkpoint,) = folder.glob("0-1_6.ckpt")
    (run_dir,) = folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]_time_*")
    result = run_script(folder / "eval.py", f"--data_dir={tiny_folder}", f"--pre_trained={checkpoint.name}",
                        cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    result = subprocess.run([sys.executable, "-m", "model_zoo.report", run_dir.name], cwd=folder, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (folder / "runs_curves.png").is_file() and (folder / "outputs").is_dir()
    assert _git(repo, "status", "--porcelain", "--untracked-files=all").stdout == ""
