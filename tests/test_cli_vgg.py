"""End to end through the upstream command lines: train.py -> checkpoint -> eval.py -> export.py."""
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY_VGG, VGG, finish, run_script, start_script

COMMON = TINY_VGG


@pytest.fixture(scope="module")
def trained(tiny_trained):
    """(output folder, train.py's result) of the session's tiny VGG run: COMMON, --max_epoch=1 --lr=0.01."""
    run = tiny_trained("vgg19")["vgg19"]
    assert run.train == COMMON + ["--max_epoch=1", "--lr=0.01"]
    return run.out, run.result


@pytest.mark.slow
def test_train_writes_upstream_checkpoint_and_logs(trained):
    out, result = trained
    checkpoints = list(Path(out).glob("*/ckpt_0/*.ckpt"))
    assert [c.name for c in checkpoints] == ["0-1_6.ckpt"]          # <rank>-<epoch>_<steps per epoch>
    assert re.search(r"^epoch: 1 step: 6, loss is \d+\.\d+$", result.stdout, re.M)
    assert re.search(r"per step time: [\d.]+ ms", result.stdout)
    run_dir = checkpoints[0].parents[1]
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss") and rows[1].startswith("1,6,")
    assert "arch: vgg11_bn" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow
def test_eval_counts_every_val_image_once(trained, tiny_folder, tmp_path):
    out, _ = trained
    checkpoint = next(Path(out).glob("*/ckpt_0/*.ckpt"))
    runs = [start_script(VGG / "eval.py", *COMMON, f"--data_dir={tiny_folder}", f"--pre_trained={target}",
                         f"--log_path={tmp_path / str(i)}", cwd=VGG)
            for i, target in enumerate((checkpoint, checkpoint.parent))]    # a file or a folder of checkpoints
    for run in runs:
        result = finish(run)
        assert result.returncode == 0, result.stderr[-2000:]
        top1 = re.search(r"after allreduce eval: top1_correct=(\d+), tot=(\d+),acc=([\d.]+)%\(TOP1\)", result.stdout)
        top5 = re.search(r"after allreduce eval: top5_correct=(\d+), tot=(\d+),acc=([\d.]+)%\(TOP5\)", result.stdout)
        assert top1 and top5
        assert int(top1.group(2)) == 9 and int(top5.group(2)) == 9
        assert int(top5.group(1)) == 9                                 # 3 classes: top-5 is always right
        assert float(top1.group(3)) == pytest.approx(100 * int(top1.group(1)) / 9, abs=0.01)


@pytest.mark.slow
def test_export_mindir_and_onnx_match_the_network(trained, tmp_path):
    import mindspore as ms
    import onnxruntime as ort

    from model_zoo.engine import checkpoint as ckpt_io
    from model_zoo.engine.registry import create_model

    out, _ = trained
    checkpoint = next(Path(out).glob("*/ckpt_0/*.ckpt"))
    runs = {suffix: start_script(VGG / "export.py", *COMMON, f"--ckpt_file={checkpoint}", f"--file_format={fmt}",
                                 f"--file_name={tmp_path / 'vgg'}", "--batch_size=2", cwd=VGG)
            for fmt, suffix in (("MINDIR", ".mindir"), ("ONNX", ".onnx"))}
    for suffix, run in runs.items():
        result = finish(run)
        assert result.returncode == 0, result.stderr[-2000:]
        assert re.search(r"max abs diff vs network: [\d.e-]+", result.stdout)
        assert (tmp_path / f"vgg{suffix}").stat().st_size > 1000
    net = create_model("vgg11_bn", num_classes=3, image_size=(32, 32), has_bias=False)
    ckpt_io.load_into(net, checkpoint)
    net.set_train(False)
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    expected = net(ms.Tensor(x)).asnumpy()
    session = ort.InferenceSession(str(tmp_path / "vgg.onnx"), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {session.get_inputs()[0].name: x})[0] - expected).max() < 1e-4
    graph = ms.nn.GraphCell(ms.load(str(tmp_path / "vgg.mindir")))
    assert np.abs(graph(ms.Tensor(x)).asnumpy() - expected).max() < 1e-4


@pytest.mark.slow
def test_export_rebuilds_the_checkpoint_s_network_with_no_flags(trained, tmp_path):
    """A checkpoint trained at 32x32 (vgg11_bn, no conv bias, 3 classes) exports with only --ckpt_file: the model
    folder's export.py and the top-level ``export.py --model vgg19`` read the network from the checkpoint, not from
    the default (CIFAR-10: vgg19_bn at 224) YAML; the ONNX output equals the network's within 1e-4."""
    import mindspore as ms
    import onnxruntime as ort

    from model_zoo.engine import weights
    from model_zoo.engine.cli import resolve

    out, _ = trained
    checkpoint = next(Path(out).glob("*/ckpt_0/*.ckpt"))
    folder = start_script(VGG / "export.py", f"--ckpt_file={checkpoint}", "--file_format=ONNX", "--batch_size=1",
                          f"--file_name={tmp_path / 'folder'}", "--device_target=CPU", cwd=tmp_path)
    top = start_script(ROOT / "export.py", "--model", "vgg19", f"--ckpt_file={checkpoint}", "--file_format=ONNX",
                       f"--file_name={tmp_path / 'top'}", "--batch_size=1", "--device_target=CPU", cwd=tmp_path)
    folder, top = finish(folder), finish(top)
    recipe, cfg = resolve("eval", "vgg19", [f"--pre_trained={checkpoint}"])
    net = weights.network(recipe, cfg, "test", checkpoint, log=None)
    net.set_train(False)
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expected = net(ms.Tensor(x)).asnumpy()
    for result, name in ((folder, "folder"), (top, "top")):
        assert result.returncode == 0, result.stderr[-2000:]
        assert "input 1x3x32x32" in result.stdout and "arch=vgg11_bn" in result.stdout, result.stdout[-2000:]
        session = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        assert np.abs(session.run(None, {session.get_inputs()[0].name: x})[0] - expected).max() < 1e-4


@pytest.mark.parametrize("args, code, pattern", [
    (["--lrr=0.1"], 2, r"^error: unknown flag --lrr; did you mean 'lr'\?"),
    (["--data_dir=/nonexistent/x", "--max_epoch=1"], 2, r"^error: data folder /nonexistent/x\S* does not exist"),
    (["--device_target=GPU"], 1, r"^error: --device_target GPU: MindSpore cannot use GPU"),
])
def test_bad_input_gives_one_line_and_exit_code(args, code, pattern, tmp_path):
    result = run_script(VGG / "train.py", *COMMON, f"--ckpt_path={tmp_path}", *args, cwd=VGG)
    assert result.returncode == code
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr[-1500:]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_air_export_off_ascend_is_one_clear_line(trained, tmp_path):
    out, _ = trained
    checkpoint = next(Path(out).glob("*/ckpt_0/*.ckpt"))
    result = run_script(VGG / "export.py", *COMMON, f"--ckpt_file={checkpoint}", "--file_format=AIR", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: --file_format AIR needs an Ascend backend" in result.stderr and "Traceback" not in result.stderr
