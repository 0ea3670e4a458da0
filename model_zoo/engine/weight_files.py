"""Reading weight files of any supported format into one {name: tensor} dict, with one-line errors.

* ``.ckpt``: MindSpore (the zoo's own, upstream ModelZoo training checkpoints, MindSpore Hub files), read by
  :func:`model_zoo.engine.checkpoint.read` (CRC-checked; files larger than the free memory are handled there).
* ``.pth`` / ``.pt`` / ``.bin`` / ``.tar``: PyTorch pickles, ``torch.load(weights_only=True)`` (needs PyTorch,
  imported only then; ``allow_pickle`` for trusted files holding other Python objects).
* ``.safetensors``: the ``safetensors`` package's numpy API (no PyTorch needed, except for bfloat16 tensors).

Wrappers are unpacked (``{'state_dict': ...}``, ``{'model': ...}``, a pickled ``nn.Module``) and a file's string
entries (the zoo's ``zoo_*`` metadata) are kept apart from its tensors.
"""
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model_zoo.engine.errors import CheckpointError

CKPT_SUFFIXES = (".ckpt",)
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
SAFETENSORS_SUFFIXES = (".safetensors",)
SUFFIXES = CKPT_SUFFIXES + TORCH_SUFFIXES + SAFETENSORS_SUFFIXES
WRAPPER_KEYS = ("state_dict", "model", "module", "net", "network")


@dataclass
class WeightFile:
    """A file's tensors ({name: MindSpore Parameter or numpy array}), its string entries and where it came from
    (``framework``: 'mindspore' for .ckpt, 'torch' for PyTorch and safetensors files)."""

    path: Path
    framework: str
    tensors: dict
    strings: dict = field(default_factory=dict)


def read_torch(path, allow_pickle=False):
    """The object of a PyTorch file: needs PyTorch, loaded with ``weights_only=True`` unless allowed."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"reading {Path(path).name} needs PyTorch (pip install torch; the CPU build is enough), "
                              f"or bring the weights as .safetensors, which needs no PyTorch") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds Python objects besides tensors ({str(exc).splitlines()[0][:120]}); "
                              f"if you trust where it comes from, pass --allow_pickle") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None


def read_safetensors(path):
    """{name: numpy array} of a ``.safetensors`` file (bfloat16 tensors, which numpy lacks, through PyTorch)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except TypeError as exc:  # numpy has no bfloat16
        if "bfloat16" not in str(exc):
            raise
        try:
            from safetensors.torch import load_file as load_torch
        except ImportError:
            raise CheckpointError(f"{Path(path).name} holds bfloat16 tensors, which numpy cannot read: install PyTorch "
                                  f"(pip install torch) or save the weights as float32") from None
        return {name: _to_numpy(value) for name, value in load_torch(str(path)).items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable .safetensors file ({exc.__class__.__name__}: "
                              f"{str(exc)[:100]})") from None


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    return None


def unwrap(obj):
    """The flat {name: array} dict inside a PyTorch checkpoint object ('state_dict' / 'model' / 'module' wrappers,
    a whole pickled nn.Module)."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):  # a whole pickled nn.Module (--allow_pickle)
        obj = obj.state_dict()
    for _ in range(3):
        if not isinstance(obj, dict):
            break
        if any(_to_numpy(v) is not None for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise CheckpointError(f"the file holds a {type(obj).__name__}, not a state dict of tensors")
    state = {}
    for name, value in obj.items():
        array = _to_numpy(value)
        if array is not None:
            state[str(name)] = array
    if not state:
        raise CheckpointError(f"no tensors found in the file (top-level keys: {', '.join(map(str, list(obj)[:5]))})")
    return state


def read(path, allow_pickle=False, log=print):
    """Read a weight file of any supported format into a :class:`WeightFile`."""
    from model_zoo.engine import checkpoint as ckpt_io

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CheckpointError(f"{path.name}: unknown weight file type {suffix!r}; use a MindSpore .ckpt, a PyTorch "
                              f".pth/.pt/.bin or a .safetensors file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; check the path given to --pre_trained/--ckpt_file")
    if suffix in CKPT_SUFFIXES:
        params = ckpt_io.read(path, log=log)
        strings = {k: v for k, v in params.items() if isinstance(v, str)}
        return WeightFile(path, "mindspore", {k: v for k, v in params.items() if not isinstance(v, str)}, strings)
    if suffix in SAFETENSORS_SUFFIXES:
        return WeightFile(path, "torch", unwrap(read_safetensors(path)))
    return WeightFile(path, "torch", unwrap(read_torch(path, allow_pickle)))


def shape(value):
    """The shape of a tensor (MindSpore Parameter/Tensor or numpy array) as a tuple of ints."""
    return tuple(int(v) for v in value.shape)


def as_numpy(value):
    """A tensor as a numpy array (no copy for numpy input)."""
    if isinstance(value, np.ndarray):
        return value
    return value.asnumpy()
