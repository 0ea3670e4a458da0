"""setup.py: every runtime dependency pinned to the versions tested together, and its console script importable."""
import ast
import importlib
import re

from conftest import ROOT


def _setup_kwargs():
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords
            if kw.arg in ("install_requires", "extras_require", "entry_points", "package_data")}


def test_runtime_dependencies_are_pinned_and_numpy_is_below_2():
    kwargs = _setup_kwargs()
    requires = kwargs["install_requires"]
    names = {re.split(r"[=<>!~]", req)[0].lower() for req in requires}
    assert {"mindspore", "numpy", "pillow", "pyyaml", "onnx", "onnxruntime", "safetensors"} <= names
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9.]*", req) for req in requires), requires
    numpy_pin = next(req for req in requires if req.startswith("numpy=="))
    assert int(numpy_pin.split("==")[1].split(".")[0]) < 2   # MindSpore 2.10's GeneratorDataset breaks under numpy 2
    assert next(req for req in requires if req.startswith("mindspore==")).startswith("mindspore==2.10.")


def test_console_scripts_point_at_real_functions():
    entries = _setup_kwargs()["entry_points"]["console_scripts"]
    assert entries
    for entry in entries:
        _, target = entry.split("=", 1)
        module, func = target.strip().split(":")
        assert callable(getattr(importlib.import_module(module), func)), entry
