"""docs/ARCHITECTURE.md's worked example: a model added in one folder (tests/toy_model/), with no engine edit, trains,
evaluates and exports through the real entry points; the doc quotes the fixture's files as they are."""
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_script

TOY = ROOT / "tests" / "toy_model"
DOC = ROOT / "docs" / "ARCHITECTURE.md"


@pytest.fixture(scope="module")
def toy_run(tiny_folder, scratch):
    """``python train.py --data_dir=... --ckpt_path=...`` in the toy's folder: 8 epochs of 6 steps on 3 classes."""
    out = scratch("toy_run")
    result = run_script(TOY / "train.py", f"--data_dir={tiny_folder}", f"--ckpt_path={out}", cwd=TOY)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = Path(out).iterdir()
    return run_dir, result


def test_toy_registers_without_an_engine_edit():
    sys.path.insert(0, str(TOY))
    try:
        import toy_recipe  # noqa: F401  (registers)
        from model_zoo.engine.registry import create_model, get_recipe, list_models, list_recipes
    finally:
        sys.path.remove(str(TOY))
    assert "toy" in list_recipes() and {"vgg19", "densenet121", "inceptionv4"} <= set(list_recipes())
    assert get_recipe("toy").default_config_path() == TOY / "toy_config.yaml"
    assert list_models(recipe="toy") == ["toy_net"]
    params = sum(int(np.prod(p.shape)) for p in create_model("toy_net", num_classes=3).trainable_params())
    assert params == 1_467                                       # the doc's "about 1,500 parameters"
    engine = "".join(p.read_text() for p in (ROOT / "model_zoo" / "engine").rglob("*.py"))
    assert not re.search(r"\btoy", engine)                       # the engine does not know the toy


def test_a_config_key_flows_from_yaml_to_the_optimizer():
    """docs/ARCHITECTURE.md's walk: lr_max from toy_config.yaml, weight_decay and width from the command line, through
    the recipe's hooks into the network, the per-step LR and nn.Momentum's parameter groups."""
    sys.path.insert(0, str(TOY))
    try:
        import toy_recipe  # noqa: F401  (registers)
        from model_zoo.engine.cli import resolve
    finally:
        sys.path.remove(str(TOY))
    recipe, cfg = resolve("train", "toy", ["--width=16", "--weight_decay=0.001"])
    assert (cfg.width, cfg.sources["width"]) == (16, "command line")
    assert (cfg.lr_max, cfg.sources["lr_max"]) == (0.2, str(TOY / "toy_config.yaml"))
    assert cfg.sources["label_smooth"] == "default_config.yaml"
    net = recipe.network(cfg, "train")
    assert net.features[0].weight.shape == (16, 3, 3, 3)
    lr = recipe.lr(cfg, 6)                                       # 8 epochs of 6 steps, 1 warm-up epoch
    assert len(lr) == 48 and lr[5] == pytest.approx(0.2) and lr[0] == pytest.approx(0.01 + 0.19 / 6)
    optimizer = recipe.optimizer(cfg, net, lr)
    decay = {p.name: float(d.asnumpy()) for p, d in zip(optimizer.parameters, optimizer.weight_decay)}
    assert decay["features.0.weight"] == pytest.approx(0.001) and decay["classifier.weight"] == pytest.approx(0.001)
    assert decay["features.1.gamma"] == decay["classifier.bias"] == 0.0


def test_toy_trains_with_its_own_log_lines_checkpoints_and_absolute_summary(toy_run, tiny_folder):
    run_dir, result = toy_run
    lines = re.findall(r"^toy epoch (\d+) step 6 loss ([\d.]+) lr ([\d.e-]+)$", result.stdout, re.M)
    assert [int(e) for e, _, _ in lines] == list(range(1, 9))
    assert float(lines[-1][1]) < 0.1 < float(lines[0][1])       # it learns the three colours
    assert float(lines[0][2]) == pytest.approx(0.2)             # lr_max of toy_config.yaml after 1 warm-up epoch
    names = sorted(p.name for p in (run_dir / "ckpt_0").glob("*.ckpt"))
    assert names == sorted(f"0-{e}_6.ckpt" for e in range(1, 9))
    config = (run_dir / "config.yaml").read_text()
    assert "arch: toy_net" in config and "width: 8" in config
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "toy" and summary["arch"] == "toy_net" and summary["status"] == "completed"
    paths = [summary["output_dir"], summary["metrics_csv"], summary["curves_png"], *summary["checkpoints"],
             summary["config"]["data_dir"], summary["config"]["ckpt_path"], summary["config"]["config_path"]]
    assert all(Path(p).is_absolute() and Path(p).exists() for p in paths), paths
    assert Path(summary["output_dir"]) == run_dir and Path(summary["config"]["data_dir"]) == Path(tiny_folder)


def test_toy_evaluates_and_exports_through_its_entry_points(toy_run, tiny_folder, tmp_path):
    import mindspore as ms
    import onnxruntime as ort

    run_dir, _ = toy_run
    checkpoint = run_dir / "ckpt_0" / "0-8_6.ckpt"
    result = run_script(TOY / "eval.py", f"--data_dir={tiny_folder}", f"--pre_trained={checkpoint}",
                        f"--log_path={tmp_path / 'eval'}", cwd=TOY)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"^toy eval top1_correct=(\d+) tot=9 acc=([\d.]+)%$", result.stdout, re.M)
    assert match and int(match.group(1)) >= 8, result.stdout[-2000:]   # 9/9 in our runs
    outputs = {}
    for fmt in ("MINDIR", "ONNX"):
        result = run_script(TOY / "export.py", f"--ckpt_file={checkpoint}", f"--file_format={fmt}",
                            f"--file_name={tmp_path / 'toy'}", "--batch_size=2", cwd=TOY)
        assert result.returncode == 0, result.stderr[-2000:]
        diff = re.search(r"max abs diff vs network: ([\d.e+-]+)", result.stdout)
        assert diff and float(diff.group(1)) < 1e-4
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "toy.onnx"), providers=["CPUExecutionProvider"])
    outputs["onnx"] = session.run(None, {session.get_inputs()[0].name: x})[0]
    outputs["mindir"] = ms.nn.GraphCell(ms.load(str(tmp_path / "toy.mindir")))(ms.Tensor(x)).asnumpy()
    assert outputs["onnx"].shape == (2, 3) and np.abs(outputs["onnx"] - outputs["mindir"]).max() < 1e-4


def _quoted_files(text):
    """{path: code} of every block the doc introduces with ``<!-- file: PATH -->``."""
    return {path: code for path, code in
            re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)}


def test_architecture_doc_quotes_the_toy_fixture_as_it_is():
    quoted = _quoted_files(DOC.read_text())
    expected = {f"tests/toy_model/{name}" for name in
                ("toy_net.py", "toy_recipe.py", "toy_weights.py", "toy_config.yaml", "train.py")}
    assert expected <= set(quoted), sorted(quoted)
    for path, code in quoted.items():
        assert code == (ROOT / path).read_text(), f"docs/ARCHITECTURE.md's copy of {path} differs from the file"


def test_toy_entry_points_differ_only_in_their_task():
    texts = {task: (TOY / f"{task}.py").read_text() for task in ("train", "eval", "export")}
    assert texts["eval"] == texts["train"].replace("train", "eval")
    assert texts["export"] == texts["train"].replace("train", "export")
