"""Device registry and the fast-CPU environment."""
import re

import pytest

from model_zoo.engine import cpu_env
from model_zoo.engine.device import BACKENDS, get_backend
from model_zoo.engine.errors import ConfigError, DeviceError


def test_registry_entries_own_their_differences():
    assert {b.comm_backend for b in BACKENDS.values()} == {"mccl", "nccl", "hccl"}
    assert get_backend("cpu").name == "CPU" and get_backend("ascend").name == "Ascend"
    assert "AIR" in BACKENDS["Ascend"].export_formats and "AIR" not in BACKENDS["CPU"].export_formats
    assert not BACKENDS["CPU"].dynamic_loss_scale


def test_auto_picks_cpu_here_and_unknown_device_is_refused():
    assert get_backend("auto").name == "CPU"
    with pytest.raises(DeviceError, match="unknown --device_target 'TPU'"):
        get_backend("TPU")


@pytest.mark.parametrize("name", ["GPU", "Ascend"])
def test_unavailable_device_fails_with_one_clear_line(name):
    with pytest.raises(DeviceError) as info:
        BACKENDS[name].require()
    message = str(info.value)
    assert f"--device_target {name}" in message and "CPU" in message and "\n" not in message


def test_air_export_refused_off_ascend():
    with pytest.raises(DeviceError, match="AIR needs an Ascend backend"):
        BACKENDS["CPU"].check_export_format("AIR")
    assert BACKENDS["CPU"].check_export_format("onnx") == "ONNX"


def test_isa_cap_chosen_from_cpu_flags_and_user_wins():
    value, reason = cpu_env.choose_isa({"avx2", "avx512f"}, {})
    assert value == "AVX2" and "AVX-512" in reason
    assert cpu_env.choose_isa({"avx2"}, {})[0] is None
    value, reason = cpu_env.choose_isa({"avx512f"}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    assert value is None and "set by the user" in reason
    env = {}
    cpu_env.apply(env, cpuinfo_path="/proc/cpuinfo")
    assert env["OMP_NUM_THREADS"] == str(cpu_env.usable_cores())


def test_this_process_runs_on_the_fast_path():
    """``import model_zoo`` put this process on the ISA cap that :func:`cpu_env.choose_isa` picks for this CPU (the
    user's own value, a saved self-test verdict, or AVX2 on an AVX-512 CPU), and its summary says which."""
    import os

    import model_zoo

    in_effect = os.environ.get("ONEDNN_MAX_CPU_ISA", "<default>")
    assert model_zoo.CPU_ENV_SUMMARY.startswith(f"cpu env: ONEDNN_MAX_CPU_ISA={in_effect} (")
    if "set by the user" in model_zoo.CPU_ENV_SUMMARY or "self-test" in model_zoo.CPU_ENV_SUMMARY:
        return
    flags = cpu_env.cpu_flags()
    expected = "AVX2" if any(f.startswith("avx512") for f in flags) else "<default>"
    assert in_effect == expected


# a comparison with, or a membership test against, a literal device name
DEVICE_NAME_TEST = re.compile(
    r"""(==|!=)\s*["'](CPU|GPU|Ascend)["']|["'](CPU|GPU|Ascend)["']\s*(==|!=|\bin\b|\bnot in\b)"""
    r"""|\bin\s*[(\[{][^)\]}]*["'](CPU|GPU|Ascend)["']|\.(startswith|endswith)\(\s*["'](CPU|GPU|Ascend)""")


@pytest.mark.parametrize("line", ['if backend.name == "GPU":', "if 'Ascend' != target:",
                                  'if cfg.device_target in ("GPU", "Ascend"):', 'if name not in ["CPU"]:',
                                  'use = "GPU" in devices', 'if target.startswith("Ascend"):'])
def test_device_name_guard_catches_branches(line):
    assert DEVICE_NAME_TEST.search(line)


def test_only_the_device_registry_compares_device_names():
    """Adding a device means adding one entry: no code outside engine/device.py branches on a device's name."""
    from pathlib import Path

    import model_zoo

    root = Path(model_zoo.__file__).parent
    offenders = [f"{path.relative_to(root)}:{number}: {line.strip()}"
                 for path in sorted(root.rglob("*.py")) if path != root / "engine" / "device.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if DEVICE_NAME_TEST.search(line)]
    assert offenders == []


def test_device_entries_own_sinking_and_onnx_providers():
    assert BACKENDS["CPU"].dataset_sink is False                  # per-step feeding: step logs, mid-epoch ckpts
    assert BACKENDS["GPU"].dataset_sink and BACKENDS["Ascend"].dataset_sink
    assert BACKENDS["GPU"].onnx_providers[0] == "CUDAExecutionProvider"
    assert all(b.onnx_providers[-1] == "CPUExecutionProvider" for b in BACKENDS.values())


def test_jit_level_from_the_recipe_reaches_mindspore():
    """InceptionV4 compiles with jit_level O1 on CPU (measured faster); the others keep MindSpore's default."""
    import mindspore as ms

    from model_zoo.engine.cli import resolve

    _, cfg = resolve("train", "inceptionv4", ["--device_target=CPU"])
    assert cfg.jit_level == "O1" and cfg.sources["jit_level"] != "default_config.yaml"
    _, cfg = resolve("train", "densenet121", ["--device_target=CPU"])
    assert cfg.jit_level == ""
    _, cfg = resolve("train", "inceptionv4", ["--device_target=CPU", "--jit_level=O0"])
    assert cfg.jit_level == "O0"                                  # the flag wins
    with pytest.raises(ConfigError, match="jit_level"):
        resolve("train", "inceptionv4", ["--device_target=CPU", "--jit_level=O7"])
    BACKENDS["CPU"].setup_context("GRAPH", 0, "O1")
    assert ms.get_context("jit_config")["jit_level"] == "O1"
    BACKENDS["CPU"].setup_context("GRAPH", 0, "O0")
    assert ms.get_context("jit_config")["jit_level"] == "O0"


def test_commands_without_device_target_print_no_mindspore_device_warnings(tmp_path):
    """export.py and predict.py with the YAML's ``device_target: auto``: the registry asks MindSpore which devices it
    can use without MindSpore's ~10 'Device Ascend/GPU is not available' warning lines."""
    import numpy as np
    from PIL import Image

    from conftest import ROOT, run_script
    from model_zoo.engine import checkpoint as ckpt_io
    from model_zoo.engine import cli

    flags = ["--config_path=imagenet2012_config.yaml", "--arch=vgg11_bn", "--num_classes=3", "--image_size=32,32"]
    recipe, cfg = cli.resolve("export", "vgg19", flags + ["--device_target=CPU"])
    ckpt_io.save(recipe.network(cfg, "test"), tmp_path / "tiny.ckpt")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(tmp_path / "a.jpg")
    folder, env = ROOT / "model_zoo" / "vgg19", {"GLOG_v": "2"}  # MindSpore's default level (the tests run at 3)
    export = run_script(folder / "export.py", *flags, f"--ckpt_file={tmp_path / 'tiny.ckpt'}", "--file_format=ONNX",
                        f"--file_name={tmp_path / 'tiny'}", "--batch_size=1", cwd=tmp_path, env=env)
    assert export.returncode == 0 and f"exported {tmp_path / 'tiny.onnx'} (ONNX" in export.stdout, export.stderr
    predict = run_script(folder / "predict.py", *flags, f"--ckpt_file={tmp_path / 'tiny.onnx'}", tmp_path / "a.jpg",
                         cwd=tmp_path, env=env)
    assert predict.returncode == 0 and "  1. " in predict.stdout, predict.stderr
    for result in (export, predict):
        assert "not available" not in result.stdout + result.stderr
        assert "[WARNING]" not in result.stderr, result.stderr
