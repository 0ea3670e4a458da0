"""Every command line of the seed READMEs runs as written (dry run) and resolves to what the seed meant.

The lines come from ``tests/data/seed_commands.txt`` (written by ``tests/data/extract_seed_commands.py`` from the seed
READMEs: every ``bash|sh [scripts/]run_*.sh`` and ``python train|eval|export.py`` line, with the seed it came from).
Placeholders and example paths are replaced by test folders and files; shell redirections and ``&`` are dropped;
everything else is passed as written (quotes, ``--flag value`` spellings).  ``sh``/``bash`` lines run the model's
script with ``MODEL_ZOO_DRY_RUN=1`` (the launcher prints its plan); ``python`` lines run ``train.py`` / ``eval.py`` /
``export.py`` with ``MODEL_ZOO_DRY_RUN=1`` (the resolved recipe, device, YAML, network, data and weights).  The list
of lines run is printed (``pytest -s``) and kept in the test report.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, per_proc, zoo_env

SEEDS = ROOT / "tests" / "data" / "seed_commands.txt"
SEED_MODEL = {"000": "vgg19", "001": "densenet121", "003": "inceptionv4", "004": "vgg19"}
PAPER_VERSIONS = ("A", "A_lrn", "B", "C", "D", "E")  # seed 004: "The model version includes [A,A_lrn,B,C,D,E]"
PAPER_ARCH = {"A": "vgg11", "A_lrn": "vgg11_lrn", "B": "vgg13", "C": "vgg16_c", "D": "vgg16", "E": "vgg19"}


def seed_lines():
    rows = [line.split("\t", 1) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(seed, command) for seed, command in rows]


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_folder, cifar_root):
    root = tmp_path_factory.mktemp("seed_files")
    table = root / "rank_table.json"
    table.write_text(json.dumps({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "10.0.0.1", "host_nic_ip": "reserve", "device": [
            {"device_id": str(i), "device_ip": f"192.98.92.{100 + i}", "rank_id": str(i)} for i in range(8)]}]}))
    for name in ("w.ckpt", "0-70-781.ckpt", "0-150-5004.ckpt", "model.mindir"):
        (root / name).write_bytes(b"x")
    (root / "labels.txt").write_text("".join(f"img_{i}_{j:03d}:{i}\n" for i in range(3) for j in range(3)))
    return dict(root=root, table=table, ckpt=root / "w.ckpt", data=tiny_folder, cifar=cifar_root,
                mindir=root / "model.mindir", labels=root / "labels.txt")


def concrete(command, files, version="A"):
    """(argv, cwd-relative?) of a seed line: placeholders -> test files, redirections and '&' dropped."""
    text = re.sub(r"\s*(?:>\s*\S+\s*)?(?:2>&1\s*)?&?\s*$", "", command)         # '> x.log 2>&1 &'
    text = re.sub(r"(--\w+)\[", r"\1 [", text)                                  # '--file_format[X]' (seed typo)
    cifar = '--dataset="cifar10"' in command
    swaps = [
        (r"\[DATA_PATH\]|/path/ImageNet2012/train|/PATH/TO/DATASET|\bDATA_PATH\b|\bDATA_DIR\b|your_data_path",
         str(files["cifar"] if cifar else files["data"])),
        (r"\[PRE_TRAINED\]|/PATH/TO/PRETRAINED_CKPT|/PATH/TO/CHECKPOINT|\bCHECKPOINT_PATH\b|\[CKPT_PATH\]",
         str(files["ckpt"])),
        (r"\./\*-70-781\.ckpt", str(files["root"] / "0-70-781.ckpt")),      # what the shell glob expands to
        (r"\./\*-150-5004\.ckpt", str(files["root"] / "0-150-5004.ckpt")),
        (r"\brank_table\.json\b|\bRANK_TABLE_FILE\b", str(files["table"])),
        (r"\bDEVICE_ID\b|\[DEVICE_ID\]", "0"),
        (r"\[CONFIG_FILE\]", "default_config_gpu.yaml"), (r"\[DEVICE_TARGET\]", "GPU"),
        (r"\[EXPORT_FORMAT\]", "MINDIR"), (r"\[MINDIR_PATH\]", str(files["mindir"])),
        (r"\[ANN_FILE\]", str(files["labels"])), (r"\[Spepcific version\]", version),
    ]
    for pattern, value in swaps:
        text = re.sub(pattern, lambda _: value, text)
    assert "[" not in text and "PATH" not in text, f"unreplaced placeholder in {text!r}"
    return shlex.split(text)


def run_line(model, argv):
    folder = ROOT / "model_zoo" / model
    cwd = folder
    if argv[0] in ("sh", "bash") and not argv[1].startswith("scripts/"):
        cwd = folder / "scripts"                                                # 'bash run_infer_310.sh ...'
    if argv[0] == "python":
        argv = [sys.executable] + argv[1:]
    result = subprocess.run(argv, cwd=cwd, env=zoo_env(MODEL_ZOO_DRY_RUN="1", MODEL_ZOO_LAUNCHER=None),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    return result.stdout, folder


def python_plan(out):
    """{'task', 'model', 'device', 'config', 'arch', 'classes', 'dataset', 'data', 'weights'} of a train/eval/export
    dry run."""
    head = re.search(r"^dry run: (\w+) (\w+) on (\w+) \(nothing is run\)$", out, re.M)
    net = re.search(r"^network: (\S+), num_classes (\d+), ", out, re.M)
    data = re.search(r"^data: (\S+) (\S+)$", out, re.M)
    assert head and net and data, out
    return dict(task=head.group(1), model=head.group(2), device=head.group(3),
                config=Path(re.search(r"^config: (\S+)$", out, re.M).group(1)).name, arch=net.group(1),
                classes=int(net.group(2)), dataset=data.group(1), data=data.group(2),
                weights=re.search(r"^weights: (\S+)", out, re.M).group(1))


def script_plan(out):
    """The same facts from a launcher dry run (task, model, device, ranks, the script's config and flags)."""
    head = re.search(r"^launcher: (\w+) \((\w+) (\w+) on (\w+), .*?(\d+) rank\(s\)\)$", out, re.M)
    assert head, out
    procs = per_proc(out)
    cmd = next(iter(procs.values()))["cmd"]
    script = next(i for i, a in enumerate(cmd) if a.endswith((".py",)))
    flags = dict(a[2:].split("=", 1) for a in cmd[script + 1:] if a.startswith("--") and "=" in a)
    return dict(launcher=head.group(1), task=head.group(2), model=head.group(3), device=head.group(4),
                ranks=int(head.group(5)), config=Path(flags.get("config_path", "(default)")).name,
                data=flags.get("data_dir"), weights=flags.get("pre_trained"), flags=flags, procs=procs)


# what each seed line means, as its README describes it: (seed, first words) -> expected facts
EXPECTED = [
    ("000", "python train.py", dict(task="train", device="GPU", config="imagenet2012_config.yaml", arch="vgg19",
                                    classes=1000, dataset="imagenet2012", data="data")),
    ("000", "sh scripts/run_distribute_train_gpu.sh", dict(task="train", device="GPU", ranks=8,
                                                           config="imagenet2012_config.yaml", data="data")),
    ("000", "python eval.py --data_path=[DATA_PATH]", dict(task="eval", device="GPU", config="imagenet2012_config.yaml",
                                                           arch="vgg19", classes=1000, dataset="imagenet2012",
                                                           data="data", weights="ckpt")),
    ("000", "bash scripts/run_distribute_train_gpu.sh", dict(task="train", device="GPU", ranks=8,
                                                             config="imagenet2012_config.yaml", data="data")),
    ("000", 'python eval.py --data_path=your_data_path --dataset="cifar10"',
     dict(task="eval", device="Ascend", config="cifar10_config.yaml", arch="vgg19_bn", classes=10, dataset="cifar10",
          data="cifar", weights="0-70-781.ckpt")),
    ("000", 'python eval.py --data_path=your_data_path --dataset="imagenet2012"',
     dict(task="eval", device="GPU", config="imagenet2012_config.yaml", arch="vgg19", classes=1000,
          dataset="imagenet2012", data="data", weights="0-150-5004.ckpt")),
    ("001", "python train.py", dict(task="train", device="auto", config="densenet121_config.yaml",
                                    arch="densenet121", classes=1000, dataset="imagenet2012", data="data",
                                    weights="ckpt")),
    ("001", "sh scripts/run_distribute_train.sh", dict(task="train", device="Ascend", ranks=8, launcher="rank_table",
                                                       data="data", weights="ckpt", rank_dir="train_{i}")),
    ("001", "python eval.py", dict(task="eval", device="auto", config="densenet121_config.yaml", arch="densenet121",
                                   classes=1000, dataset="imagenet2012", data="data", weights="ckpt")),
    ("001", "sh scripts/run_distribute_eval.sh", dict(task="eval", device="Ascend", ranks=8, launcher="rank_table",
                                                      data="data", weights="ckpt", rank_dir="eval_{i}")),
    ("003", "bash scripts/run_distribute_train_ascend.sh", dict(task="train", device="Ascend", ranks=8,
                                                                launcher="rank_table", data="data",
                                                                rank_dir="train_parallel{i}")),
    ("003", "bash scripts/run_standalone_train_ascend.sh", dict(task="train", device="Ascend", ranks=1, data="data")),
    ("003", "bash scripts/run_distribute_train_gpu.sh", dict(task="train", device="GPU", ranks=8,
                                                             config="default_config_gpu.yaml", data="data")),
    ("003", "bash scripts/run_standalone_train_cpu.sh", dict(task="train", device="CPU", ranks=1,
                                                             config="default_config_cpu.yaml", data="data")),
    ("003", "bash scripts/run_eval_ascend.sh", dict(task="eval", device="Ascend", ranks=1, data="data",
                                                    weights="ckpt")),
    ("003", "bash scripts/run_eval_gpu.sh", dict(task="eval", device="GPU", ranks=1, config="default_config_gpu.yaml",
                                                 data="data", weights="ckpt", log="eval.log")),
    ("003", "python export.py", dict(task="export", device="GPU", config="default_config_gpu.yaml",
                                     arch="inception_v4", classes=1000, weights="ckpt")),
    ("003", "bash run_infer_310.sh", dict(task="infer", device="Ascend", data="data", labels="labels")),
    ("004", "python train.py --model_version", dict(task="train", device="auto", config="vgg_paper_config.yaml",
                                                    classes=1000, dataset="imagenet2012")),
]


def expected_for(seed, command):
    matches = [facts for key, start, facts in EXPECTED if seed.startswith(key) and command.startswith(start)]
    assert matches, f"no expectation written for {seed}: {command}"
    return dict(matches[0])


@pytest.mark.slow
def test_every_seed_command_runs_as_a_dry_run_with_the_seed_meaning(files, capsys):
    lines = seed_lines()
    assert {seed[:3] for seed, _ in lines} == {"000", "001", "002", "003", "004"}  # every seed was read
    seeds = Path("/work/shared/seeds")  # where the seeds are (not in a clean clone): the copy is what they hold
    if seeds.is_dir():
        sys.path.insert(0, str(SEEDS.parent))
        from extract_seed_commands import extract

        assert extract(seeds) == SEEDS.read_text(encoding="utf-8").splitlines()
    commands = [(seed, command) for seed, command in lines if command]
    assert len(commands) == 19
    cases = []
    for seed, command in commands:
        model = SEED_MODEL[seed[:3]]
        versions = PAPER_VERSIONS if seed.startswith("004") else ("",)
        # train/eval/export read the weights they are given even in a dry run (a checkpoint configures the network
        # it describes): their lines name checkpoints that do not exist, the scripts' lines (which only check that
        # the file is there) placeholder files
        line_files = dict(files, root=files["root"] / "absent", ckpt=files["root"] / "absent" / "w.ckpt") \
            if command.startswith("python") else files
        for version in versions:
            expected = expected_for(seed, command)
            if version:
                expected["arch"] = PAPER_ARCH[version]
            cases.append((seed, model, concrete(command, line_files, version or "A"), expected, line_files))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # independent processes: as many as cores
        outputs = list(pool.map(lambda case: run_line(case[1], case[2]), cases))
    ran = []
    for (seed, model, argv, expected, line_files), (out, folder) in zip(cases, outputs):
        ran.append(f"{seed}: {shlex.join(argv)}")
        check(expected, out, folder, line_files, model)
    with capsys.disabled():
        print(f"\nseed command lines run as dry runs ({len(ran)}):")
        for line in ran:
            print(f"  {line}")


def _path(key, files):
    named = {"data": files["data"], "cifar": files["cifar"], "ckpt": files["ckpt"], "labels": files["labels"]}
    return str(named.get(key, files["root"] / key))


def check(expected, out, folder, files, model):
    if out.startswith("mindir name:"):                                          # run_infer_310.sh
        head = re.search(r"^launcher: infer310 \(infer (\w+) on (\w+), form (\S+)\)$", out, re.M)
        assert head and head.group(1) == model and head.group(2) == expected["device"], out
        infer = re.search(r"^infer: cmd (.*)$", out, re.M).group(1)
        post = re.search(r"^postprocess: cmd (.*)$", out, re.M).group(1)
        assert f"--data_dir={_path(expected['data'], files)}" in infer and f"--model_file={files['mindir']}" in infer
        assert f"--label_dir={_path(expected['labels'], files)}" in post and "acc.log" in out
        return
    if out.startswith("launcher:"):
        plan = script_plan(out)
        assert (plan["task"], plan["model"], plan["device"], plan["ranks"]) == (
            expected["task"], model, expected["device"], expected["ranks"]), out
        assert plan["config"] == expected.get("config", "(default)"), out
        assert plan["data"] == _path(expected["data"], files), out
        assert plan["weights"] == (_path(expected["weights"], files) if "weights" in expected else None), out
        for key in ("launcher",):
            if key in expected:
                assert plan[key] == expected[key], out
        if "rank_dir" in expected:
            assert [p["cwd"] for p in plan["procs"].values()] == [
                str(folder / expected["rank_dir"].format(i=i)) for i in range(8)], out
        if "log" in expected:
            assert next(iter(plan["procs"].values()))["log"] == str(folder / expected["log"]), out
        return
    plan = python_plan(out)
    for key in ("task", "device", "config", "arch", "classes", "dataset"):
        if key in expected:
            assert plan[key] == expected[key], (key, out)
    assert plan["model"] == model, out
    if "data" in expected:
        assert plan["data"] == _path(expected["data"], files), out
    if "weights" in expected:
        assert plan["weights"] == _path(expected["weights"], files), out
