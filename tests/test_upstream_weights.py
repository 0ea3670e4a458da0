"""Upstream MindSpore ModelZoo checkpoints load everywhere: eval.py, export.py (ONNX and MINDIR, model folder and top
level) and predict.py rebuild the network the file describes and give the upstream network's outputs.

The checkpoints are written by the upstream networks themselves (``tests/upstream_nets.py``: the same cell tree, so
the exact parameter names and shapes, and MindSpore's own optimizer objects for the training entries; a test checks
them against every entry of real upstream training checkpoints, ``tests/data/upstream_checkpoints``).  Their weights
are random (BatchNorm statistics and biases too) and the last layer is scaled so that the largest |output| is about
10: the outputs of every tool must equal the upstream network's within 1e-5.

The README's "Bringing your weights" commands are the commands run here (data and file paths replaced; flags that
only make the run small appended).  VGG checkpoints are trained at 32x32 except the MindSpore Hub file, which has
upstream's 224x224 shapes (the first Dense takes 512x7x7).  The three recipes' main files go through every tool as
subprocesses; the other variants through eval.py as a subprocess and export/predict through the same entry points in
this process.
"""
import json
import re
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

import upstream_nets as U
from conftest import ROOT, finish, run_script, start_script

TOLERANCE = 1e-5
IMAGES = 9  # tiny_folder: 3 classes x 3 val images
VGG_LAST = ("classifier.6.weight", "classifier.6.bias")
DN_LAST = ("head.fc.weight", "head.fc.bias")
IV4_LAST = ("softmax.batchnorm.gamma", "softmax.batchnorm.beta")

# case -> the upstream network, the file a user holds, how eval.py is run, what else is run
#   readme: the model README's command for this file is the eval command; extra: flags appended to keep it small
#   tools: 'subprocess' (export.py x2, predict.py as scripts), 'inprocess' (their entry points here), None
CASES = {
    "vgg19": dict(recipe="vgg19", net=lambda: U.UpstreamVgg(10, False, False, "pad", 1, in_features=512),
                  file="0-90_2502.ckpt", train=dict(optimizer="momentum"), size=32, last=VGG_LAST, readme=True,
                  extra=[], export=[], tools="subprocess"),  # export/predict: the default (CIFAR, vgg19_bn) YAML
    "vgg19_hub224": dict(recipe="vgg19", net=lambda: U.UpstreamVgg(1000, False, False, "pad", 1), size=224,
                         file="vgg19_ascend_imagenet2012_hub.ckpt", train=None, last=VGG_LAST, readme=True,
                         extra=["--batch_size=9"], tools=None),
    "vgg19_bn": dict(recipe="vgg19", net=lambda: U.UpstreamVgg(10, True, False, "same", 0, in_features=512),
                     file="vgg19_bn_cifar10.ckpt", train=None, size=32, last=VGG_LAST, readme=False,
                     eval=["--dataset=imagenet2012", "--data_dir={data}", "--pre_trained={ckpt}"], export=[],
                     tools="inprocess"),
    "vgg19_bias": dict(recipe="vgg19", net=lambda: U.UpstreamVgg(1000, False, True, "pad", 1, in_features=512),
                       file="vgg19_bias.ckpt", train=None, size=32, last=VGG_LAST, readme=False,
                       eval=["--config_path=imagenet2012_config.yaml", "--data_dir={data}", "--pre_trained={ckpt}"],
                       export=["--config_path=imagenet2012_config.yaml"], tools="inprocess"),
    "vgg19_bn_bias": dict(recipe="vgg19", net=lambda: U.UpstreamVgg(10, True, True, "same", 0, in_features=512),
                          file="0-70_1562.ckpt", train=dict(optimizer="momentum"), size=32, last=VGG_LAST, readme=False,
                          eval=["--dataset=imagenet2012", "--data_dir={data}", "--pre_trained={ckpt}"], export=[],
                          tools="inprocess"),
    # DenseNet121: training checkpoint with the wrapper prefix 'network.' and a dynamic loss scale
    "densenet121": dict(recipe="densenet121", net=lambda: U.UpstreamDenseNet(1000), file="0-120_5004.ckpt",
                        train=dict(optimizer="momentum", prefix="network.", loss_scale=True), size=32, last=DN_LAST,
                        readme=True, extra=["--image_size=32,32"], export=["--image_size=32,32"], tools="subprocess"),
    "densenet121_hub": dict(recipe="densenet121", same_as="densenet121", file="densenet121_ascend_imagenet2012_hub.ckpt",
                            train=None, size=32, readme=True, extra=["--image_size=32,32"], tools=None),
    "densenet100": dict(recipe="densenet121", net=lambda: U.UpstreamDenseNet(10, cifar=True), file="densenet100.ckpt",
                        train=None, size=32, last=DN_LAST, readme=False,
                        eval=["--config_path=densenet100_config.yaml", "--dataset=imagenet2012",
                              "--eval_data_dir={data}", "--ckpt_files={ckpt}"],
                        export=["--config_path=densenet100_config.yaml"], tools="inprocess"),
    # InceptionV4: training checkpoint (RMSProp), upstream head (LogSoftmax outputs)
    "inceptionv4": dict(recipe="inceptionv4", net=lambda: U.UpstreamInceptionV4(1000),
                        file="inceptionv4-train-250_1251.ckpt", train=dict(optimizer="rmsprop"), size=75,
                        last=IV4_LAST, readme=True, extra=["--width=75", "--height=75", "--batch_size=9"],
                        export=["--config_path=default_config_cpu.yaml", "--width=75", "--height=75"],
                        tools="subprocess"),
    "inceptionv4_hub": dict(recipe="inceptionv4", same_as="inceptionv4", file="inceptionv4_ascend_imagenet2012_hub.ckpt",
                            train=None, size=75, readme=True, extra=["--width=75", "--height=75", "--batch_size=9"],
                            tools=None),
}
CKPT_FLAGS = ("--pre_trained", "--ckpt_files", "--checkpoint_path")


def readme_eval(case, data):
    """The README's eval.py command for the case's file, with the data folder replaced."""
    for argv in U.readme_commands(case["recipe"]):
        if argv[0] == "eval.py" and any(a.split("=", 1)[-1] == case["file"] for a in argv if a.startswith(CKPT_FLAGS)):
            return [re.sub(r"=/data/.*", f"={data}", a) for a in argv[1:]]
    raise AssertionError(f"README of {case['recipe']} has no eval.py command for {case['file']}")


@pytest.fixture(scope="module")
def upstream(scratch):
    """{case: dict(net (the upstream network, eval mode), ckpt, probe (an input), expected (its outputs))}."""
    pynative()
    folder = scratch("upstream_ckpts")
    rng = np.random.default_rng(0)
    built = {}
    for i, (name, case) in enumerate(CASES.items()):
        if "same_as" in case:  # the same network saved as a Hub file: network entries only, no wrapper prefix
            made = dict(built[case["same_as"]])
            entries = list(made["net"].parameters_and_names())
        else:
            net = U.randomize(case["net"](), seed=i)
            probe = rng.standard_normal((2, 3, case["size"], case["size"])).astype(np.float32)
            scale = U.scale_outputs(net, case["last"], probe)
            made = dict(net=net, probe=probe, expected=net(ms.Tensor(probe)).asnumpy(), scale=scale)
            entries = U.training_entries(net, **case["train"]) if case["train"] else list(net.parameters_and_names())
        (folder / name).mkdir()
        made["ckpt"] = U.save(entries, folder / name / case["file"])
        built[name] = made
    return built


def eval_argv(case, made, data):
    if case["readme"]:
        argv = readme_eval(case, data)
        return [a.replace(f"={case['file']}", f"={made['ckpt']}") for a in argv] + case["extra"]
    return [a.format(data=data, ckpt=made["ckpt"]) for a in case["eval"]]


def eval_reference(case, argv):
    """The images eval.py sees (the recipe's eval pipeline for the same flags, resolved in this process) and their
    labels."""
    from model_zoo.engine.cli import resolve

    recipe, cfg = resolve("eval", case["recipe"], argv)
    images, labels = [], []
    for batch, label in recipe.dataset(cfg, False, 0, 1).create_tuple_iterator(output_numpy=True, num_epochs=1):
        images.append(batch)
        labels.append(label)
    return images, np.concatenate(labels).astype(np.int64)


def loss_and_top1(outputs, labels):
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].sum()) / len(labels), int((outputs.argmax(1) == labels).sum())


def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)  # the reference networks run eagerly (no graph compile per shape)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_eval_py_gives_the_upstream_outputs(name, upstream, tiny_folder, tmp_path):
    case, made = CASES[name], upstream[name]
    folder = ROOT / "model_zoo" / case["recipe"]
    argv = eval_argv(case, made, tiny_folder) + ["--device_target=CPU"]
    results = tmp_path / "results.json"
    result = run_script(folder / "eval.py", *argv, f"--log_path={tmp_path / 'log'}", f"--eval_results_file={results}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"{case['file']}: upstream MindSpore ModelZoo weights of" in out, out[-3000:]
    if case["train"]:
        assert re.search(r"left out \d+ optimizer/bookkeeping entries: .*(moments|moment|mean_square)\.\* \(\d+\)", out)
    pynative()
    images, labels = eval_reference(case, argv)
    expected = np.concatenate([made["net"](ms.Tensor(batch)).asnumpy() for batch in images])[:len(labels)]
    loss, top1 = loss_and_top1(expected, labels)
    record = json.loads(results.read_text())
    print(f"{name}: eval.py loss {record['loss']:.7f} top1 {record['top1_correct']}/{record['tot']}; upstream network "
          f"loss {loss:.7f} top1 {top1}; max |output| {np.abs(expected).max():.3g}")
    assert record["tot"] == len(labels) == IMAGES
    assert record["top1_correct"] == top1
    assert abs(record["loss"] - loss) < TOLERANCE


def run_exported(path, images):
    from model_zoo.engine.deploy.common import ExportedModel

    return ExportedModel(path)(images)


def with_tools(kind):
    return [name for name, case in CASES.items() if case["tools"] == kind]


def export_argv(case, made):
    return case["export"] + [f"--ckpt_file={made['ckpt']}", "--device_target=CPU", "--batch_size=2"]


def check_exported(name, made, files):
    for path in files:
        got = run_exported(path, made["probe"])
        diff = float(np.abs(got - made["expected"]).max())
        print(f"{name} {path.suffix}: max abs diff {diff:.3g} vs the upstream network (max |output| "
              f"{made['scale']:.3g})")
        assert diff < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", with_tools("subprocess"))
def test_export_py_onnx_and_mindir_give_the_upstream_outputs(name, upstream, tmp_path):
    """ONNX from the model folder's export.py, MINDIR from the top-level export.py --model."""
    case, made = CASES[name], upstream[name]
    argv, size = export_argv(case, made), case["size"]
    onnx = start_script(ROOT / "model_zoo" / case["recipe"] / "export.py", *argv, "--file_format=ONNX",
                        f"--file_name={tmp_path / 'net'}", cwd=tmp_path)
    mindir = start_script(ROOT / "export.py", "--model", case["recipe"], *argv, "--file_format=MINDIR",
                          f"--file_name={tmp_path / 'net'}", cwd=tmp_path)                  # both at once
    onnx, mindir = finish(onnx), finish(mindir)
    assert onnx.returncode == 0, onnx.stderr[-3000:]
    assert mindir.returncode == 0, mindir.stderr[-3000:]
    for result in (onnx, mindir):
        assert f"input 2x3x{size}x{size}" in result.stdout, result.stdout[-2000:]
    pynative()
    check_exported(name, made, [tmp_path / "net.onnx", tmp_path / "net.mindir"])


@pytest.mark.slow
@pytest.mark.parametrize("name", with_tools("inprocess"))
def test_export_entry_point_onnx_and_mindir_give_the_upstream_outputs(name, upstream, tmp_path, capsys):
    from model_zoo.engine import cli

    case, made = CASES[name], upstream[name]
    for fmt in ("ONNX", "MINDIR"):
        assert cli.main("export", case["recipe"], export_argv(case, made) + [f"--file_format={fmt}",
                                                                              f"--file_name={tmp_path / 'net'}"]) == 0
    assert f"input 2x3x{case['size']}x{case['size']}" in capsys.readouterr().out
    pynative()
    check_exported(name, made, [tmp_path / "net.onnx", tmp_path / "net.mindir"])


def predict_check(name, made, image, argv, top_file):
    from model_zoo.engine.deploy import common

    top = json.loads(Path(top_file).read_text())[0]["top"]
    pynative()
    _, cfg = common.resolve("predict", CASES[name]["recipe"], argv)
    spec = common.preprocess_spec(cfg)
    assert spec["image_size"] == [CASES[name]["size"]] * 2
    (images, _), = list(common.image_batches([str(image)], spec, 1))
    probs = common.probabilities(made["net"](ms.Tensor(images)).asnumpy())[0]
    diff = max(abs(entry["probability"] - probs[entry["class_index"]]) for entry in top)
    print(f"{name}: predict.py top-5 {[e['class_index'] for e in top]}, max probability diff {diff:.3g}")
    assert [entry["class_index"] for entry in top] == list(np.argsort(-probs, kind="stable")[:5])
    assert diff < TOLERANCE


def predict_argv(case, made):
    return [f"--ckpt_file={made['ckpt']}", "--device_target=CPU"] + case["export"]


@pytest.mark.parametrize("name", with_tools("subprocess"))
def test_predict_py_gives_the_upstream_probabilities(name, upstream, tiny_folder, tmp_path):
    case, made = CASES[name], upstream[name]
    image = sorted((tiny_folder / "val").rglob("*.JPEG"))[0]
    argv = predict_argv(case, made)
    result = run_script(ROOT / "model_zoo" / case["recipe"] / "predict.py", *argv, image,
                        f"--output_json={tmp_path / 'top.json'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    predict_check(name, made, image, argv, tmp_path / "top.json")


@pytest.mark.parametrize("name", with_tools("inprocess"))
def test_predict_entry_point_gives_the_upstream_probabilities(name, upstream, tiny_folder, tmp_path):
    from model_zoo.engine.deploy import cli

    case, made = CASES[name], upstream[name]
    image = sorted((tiny_folder / "val").rglob("*.JPEG"))[0]
    argv = predict_argv(case, made)
    assert cli.main("predict", case["recipe"], argv + [str(image), f"--output_json={tmp_path / 'top.json'}"]) == 0
    predict_check(name, made, image, argv, tmp_path / "top.json")


# ---------------------------------------------------------------------------------------------------------------
# a flag that contradicts the file, and training from upstream weights
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, flag", [("vgg19", "--image_size=224,224"), ("densenet121", "--net=densenet100"),
                                        ("inceptionv4", "--head=reference")])
def test_a_flag_that_contradicts_the_file_is_named_as_the_readme_shows(name, flag, upstream, tmp_path):
    """One line, exit code 2, naming the flag and the value the file needs: the example of the model README."""
    case, made = CASES[name], upstream[name]
    result = run_script(ROOT / "model_zoo" / case["recipe"] / "export.py", f"--ckpt_file={made['ckpt']}", flag,
                        "--device_target=CPU", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    readme = " ".join((ROOT / "model_zoo" / case["recipe"] / "README.md").read_text(encoding="utf-8").split())
    assert f"`{errors[0][len('error: '):]}`" in readme, errors[0]


@pytest.mark.slow
def test_train_py_fine_tunes_upstream_weights_to_other_classes(upstream, tiny_folder, tmp_path):
    """``--pre_trained`` with an upstream training checkpoint and another --num_classes: the network the file
    describes (plain vgg19, no conv bias, 32x32) is built, every tensor but the head is loaded (a note says so);
    with lr 0 the written checkpoint holds exactly the upstream trunk, and records the network."""
    made = upstream["vgg19"]
    result = run_script(ROOT / "model_zoo" / "vgg19" / "train.py", "--config_path=imagenet2012_config.yaml",
                        f"--data_dir={tiny_folder}", f"--pre_trained={made['ckpt']}", "--num_classes=3",
                        "--max_epoch=1", "--batch_size=8", "--lr=0.0", "--device_target=CPU", f"--ckpt_path={tmp_path}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "its head (classifier.6) is not loaded and starts from its initial weights" in result.stdout
    from model_zoo.engine import checkpoint as ckpt_io

    written = ckpt_io.read(next(tmp_path.glob("*/ckpt_0/*.ckpt")))
    meta = ckpt_io.metadata(written)
    assert meta["arch"] == "vgg19" and meta["has_bias"] is False and meta["preprocess"]["image_size"] == [32, 32]
    source = dict(made["net"].parameters_and_names())
    for name, param in source.items():
        zoo = name.replace("layers.", "features.")
        if name.startswith("classifier.6"):
            assert written[zoo].shape == (3,) + tuple(param.shape[1:])
        else:
            assert np.array_equal(written[zoo].asnumpy(), param.asnumpy()), name
