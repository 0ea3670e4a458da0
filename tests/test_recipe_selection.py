"""The data picks the recipe: without --config_path, --dataset (or the layout of the data given) selects the model's
YAML; the class count of the data is checked against num_classes; upstream defaults (InceptionV4 distribution,
smoothing, start_epoch, enable_profiling)."""
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_script
from model_zoo.engine.cli import resolve

VGG = ROOT / "model_zoo" / "vgg19"


def test_vgg_dataset_imagenet2012_alone_builds_the_imagenet_recipe():
    from mindspore import nn

    from model_zoo.engine import lr as schedules

    recipe, cfg = resolve("train", "vgg19", ["--device_target=GPU", "--dataset=imagenet2012", "--data_path=/data/x"])
    assert Path(cfg.config_path).name == "imagenet2012_config.yaml"
    assert (cfg.arch, cfg.num_classes, cfg.lr_scheduler, cfg.data_dir) == ("vgg19", 1000, "cosine_annealing", "/data/x")
    net = recipe.network(cfg, "train")
    cells = [cell for _, cell in net.cells_and_names()]
    assert not any(isinstance(c, nn.BatchNorm2d) for c in cells)  # plain vgg19, not the CIFAR recipe's vgg19_bn
    assert [c.weight.shape[0] for c in cells if isinstance(c, nn.Dense)][-1] == 1000
    assert sum(isinstance(c, nn.Conv2d) for c in cells) == 16 and not any(
        c.has_bias for c in cells if isinstance(c, nn.Conv2d))
    lr = recipe.lr(cfg, 10)
    np.testing.assert_allclose(lr, schedules.cosine_annealing(0.04, 10, 90, 90))
    assert lr[0] == pytest.approx(0.04) and lr[10] == pytest.approx(0.04 * (1 + np.cos(np.pi / 90)) / 2)


def test_the_data_layout_picks_the_yaml_and_the_class_count(tiny_folder, cifar_root, capsys):
    _, cfg = resolve("eval", "vgg19", [f"--data_dir={tiny_folder}"])
    assert (Path(cfg.config_path).name, cfg.dataset) == ("imagenet2012_config.yaml", "imagenet2012")
    assert f"no --config_path: imagenet2012_config.yaml (from the imagenet2012 layout of {tiny_folder})" in \
        capsys.readouterr().out
    _, cfg = resolve("train", "vgg19", [f"--data_dir={cifar_root}", "--num_classes=7"])
    assert (Path(cfg.config_path).name, cfg.num_classes) == ("cifar10_config.yaml", 7)  # a flag always wins
    _, cfg = resolve("train", "densenet121", ["--dataset=cifar10"])
    assert (Path(cfg.config_path).name, cfg.arch, cfg.num_classes) == ("densenet100_config.yaml", "densenet100", 10)
    _, cfg = resolve("train", "densenet121", ["--net=densenet100"])
    assert Path(cfg.config_path).name == "densenet100_config.yaml"
    _, cfg = resolve("train", "vgg19", ["--model_version=D", f"--data_dir={tiny_folder}"])  # seed 004 on a folder
    assert (Path(cfg.config_path).name, cfg.arch, cfg.dataset) == ("vgg_paper_config.yaml", "vgg16", "imagenet2012")
    _, cfg = resolve("train", "vgg19", ["--config_path=cifar10_config.yaml", f"--data_dir={tiny_folder}"])
    assert cfg.dataset == "cifar10"  # --config_path given: nothing is chosen for the user


def one_error(result):
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


def test_class_count_mismatch_stops_with_one_line(tiny_folder, tmp_path):
    result = run_script(VGG / "train.py", "--dataset=imagenet2012", f"--data_dir={tiny_folder}", "--device_target=CPU",
                        f"--ckpt_path={tmp_path}", cwd=VGG)
    line = one_error(result)
    assert line == (f"error: {tiny_folder / 'train'} (3 class folders) has 3 classes but num_classes is 1000; pass "
                    f"--num_classes=3, or point --data_dir at data with 1000 classes")
    assert not list(Path(tmp_path).rglob("*.ckpt"))


def test_inception_upstream_distribution_smoothing_and_checkpoint_defaults(monkeypatch):
    from model_zoo.engine.loss import CrossEntropySmooth

    _, cfg = resolve("train", "inceptionv4", [])
    assert not cfg.is_distributed and cfg.label_smooth == 0
    assert cfg.get("pre_trained") == ""  # training never starts from the eval checkpoint
    _, cfg = resolve("eval", "inceptionv4", [])
    assert cfg.pre_trained == "./ckpts_rank_0/inceptionV4-train-rank0-250_1251.ckpt"  # the name train.py writes
    recipe, cfg = resolve("train", "inceptionv4", ["--distribute=True"])  # the README's ModelArts step
    assert cfg.is_distributed == 1
    assert recipe.loss(cfg).smooth == 0.0  # upstream: smooth_factor 0.1 is never applied
    recipe, cfg = resolve("train", "inceptionv4", ["--label_smooth=1"])
    assert isinstance(recipe.loss(cfg), CrossEntropySmooth) and recipe.loss(cfg).smooth == pytest.approx(0.1)
    monkeypatch.setenv("RANK_SIZE", "8")  # an 8-card ModelArts job: upstream goes distributed on RANK_SIZE > 1
    _, cfg = resolve("train", "inceptionv4", [])
    assert cfg.is_distributed == 1
    _, cfg = resolve("train", "inceptionv4", ["--is_distributed=False"])
    assert cfg.is_distributed == 0


@pytest.mark.slow
def test_start_epoch_and_profiling_on_a_short_inception_run(tiny_folder, tmp_path):
    """--start_epoch 2 of 2 trains only epoch 2, from the schedule's epoch-2 LR (upstream sliced the LR array there),
    and names the checkpoint -2_6; --enable_profiling writes MindSpore's profile."""
    from model_zoo.engine import lr as schedules

    folder = ROOT / "model_zoo" / "inceptionv4"
    result = run_script(folder / "train.py", "--config_path=default_config_cpu.yaml", "--image_size=75,75",
                        "--num_classes=3", "--batch_size=4", "--epoch_size=2", "--start_epoch=2", "--head=reference",
                        "--lr_max=0.001",
                        "--enable_profiling=True", f"--dataset_path={tiny_folder}", f"--ckpt_path={tmp_path}",
                        cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "start_epoch 2: training epochs 2-2, LR from step 6 of the schedule" in result.stdout
    assert re.findall(r"^epoch: (\d) step: 6, loss is", result.stdout, re.M) == ["2"]
    ckpt = tmp_path / "ckpts_rank_0" / "inceptionV4-train-rank0-2_6.ckpt"
    assert ckpt.is_file() and not list(tmp_path.glob("ckpts_rank_0/*-1_6.ckpt"))
    import mindspore as ms

    state = ms.load_checkpoint(str(ckpt), choice_func=lambda name: name in ("global_step", "epoch_num"))
    assert int(state["global_step"].asnumpy()[0]) == 12  # the optimizer's LR index went on from step 6
    rows = (next(tmp_path.glob("*/metrics.csv"))).read_text().splitlines()
    assert len(rows) == 2 and float(rows[1].split(",")[4]) == pytest.approx(
        float(schedules.warmup_cosine_per_step(6, 2, 4e-5, 4e-6, 0.001, 1)[-1]), rel=1e-5)
    profiles = list(tmp_path.rglob("profiler/*/ASCEND_PROFILER_OUTPUT/trace_view.json"))
    assert profiles, sorted(str(p) for p in tmp_path.rglob("*"))[:20]
