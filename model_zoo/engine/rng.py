"""Reproducible dropout: masks drawn from an explicit counter, so the same seed gives the same weights and a resumed
run draws the masks the uninterrupted one would have drawn.

MindSpore 2.10's ``nn.Dropout`` keeps its random state inside the CPU kernel: it cannot be saved or restored, and the
kernel's output changes with the thread split its auto-tuner picks, so two runs with the same seed drift apart after
a few epochs.  MindSpore's ``Generator`` (``get_rng_state`` / ``set_rng_state``) only feeds the ``*Ext`` random ops,
which have no CPU kernels in 2.10 (``DropoutExt``, ``RandExt``: "Unsupported op on CPU").

So the trainer replaces every active ``nn.Dropout`` of the network it trains by :class:`SeededDropout` (same drop
probability, same ``1 / (1 - p)`` scaling, identity in eval mode, no parameters: checkpoint names do not change).
Its mask for element ``i`` of call ``c`` is ``fmix32(mul32(i, G) ^ fmix32(c * G + key)) >= p * 2**32``, with
murmur3's 32-bit finaliser computed exactly in int64 tensor ops (the same bits on any thread split), ``key`` mixed
from (seed, rank, layer) and ``c`` a per-layer call counter that lives beside the graph (not among the network's
parameters).  The counters are the dropout's whole random state: every checkpoint stores them
(``zoo_rng_state``) and a resume restores them.  Export and eval build their own networks and never see these cells.
"""
import json

import numpy as np

STATE_KEY = "zoo_rng_state"
_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B1


def _mix32(value):
    """murmur3's 32-bit finaliser on a Python int (for the per-layer keys)."""
    value &= _M32
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & _M32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & _M32
    return value ^ (value >> 16)


def layer_key(seed, rank, layer):
    """The 32-bit key of one dropout layer on one rank."""
    return _mix32(_mix32(_mix32(int(seed)) ^ (int(rank) * 0x27D4EB2F)) ^ (int(layer) * 0x165667B1))


def _cells():
    """SeededDropout, defined on first use (MindSpore is imported only when a network is trained)."""
    if "SeededDropout" in _CACHE:
        return _CACHE["SeededDropout"]
    import mindspore as ms
    from mindspore import Parameter, Tensor, nn, ops

    def mul32(h, const):
        """(h * const) mod 2**32 for 0 <= h < 2**32, exactly in int64 (no product exceeds 2**49)."""
        low, high = const & 0xFFFF, const >> 16
        return ops.bitwise_and(h * low + ops.bitwise_and(h * high, 0xFFFF) * 65536, _M32)

    def fmix32(h):
        h = ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16))
        h = mul32(h, 0x85EBCA6B)
        h = ops.bitwise_xor(h, ops.bitwise_right_shift(h, 13))
        h = mul32(h, 0xC2B2AE35)
        return ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16))

    class SeededDropout(nn.Cell):
        """``nn.Dropout(p)`` whose masks come from (key, call counter, element index)."""

        def __init__(self, p, key, name):
            super().__init__()
            self.p = float(p)
            self.key = int(key)
            self.threshold = min(int(round(self.p * 2 ** 32)), 2 ** 32)
            self.scale = 1.0 / (1.0 - self.p)
            # not an attribute MindSpore registers: the network's parameters (and checkpoints) stay as they were
            object.__setattr__(self, "calls", Parameter(Tensor(0, ms.int64), name=name, requires_grad=False))

        def construct(self, x):
            if not self.training:
                return x
            call = self.calls + 0
            ops.assign_add(self.calls, Tensor(1, ms.int64))
            base = fmix32(ops.bitwise_and(call * _GOLDEN + self.key, _M32))
            index = ops.arange(0, x.size, dtype=ms.int64)
            bits = fmix32(ops.bitwise_xor(mul32(index, _GOLDEN), base))
            keep = ops.stop_gradient(ops.cast(bits >= self.threshold, x.dtype).reshape(x.shape))
            return x * keep * self.scale

        def extend_repr(self):
            return f"p={self.p}, key={self.key:#010x}"

    _CACHE["SeededDropout"] = SeededDropout
    return SeededDropout


_CACHE = {}


def _drop_probability(cell):
    p = getattr(cell, "p", None)
    return float(p) if p is not None else 1.0 - float(getattr(cell, "keep_prob", 1.0))


def seed_dropout(net, seed, rank=0):
    """Replace every active ``nn.Dropout`` in ``net`` by a :class:`SeededDropout` with the same probability.

    Returns the new cells in network order (their counters are the dropout's random state)."""
    from mindspore import nn

    seeded_cls = _cells()
    found = []
    for _, parent in net.cells_and_names():
        for child_name, child in list(parent.name_cells().items()):
            if type(child) is nn.Dropout and _drop_probability(child) > 0:  # noqa: E721 (subclasses may differ)
                found.append((parent, child_name, _drop_probability(child)))
    cells = []
    for layer, (parent, child_name, p) in enumerate(found):
        cell = seeded_cls(p, layer_key(seed, rank, layer), f"zoo_rng.dropout{layer}.calls")
        if isinstance(parent, nn.SequentialCell):
            parent[list(parent.name_cells()).index(child_name)] = cell
        else:
            setattr(parent, child_name, cell)
        cells.append(cell)
    return cells


def state(cells):
    """The random state of the seeded cells, as the JSON string stored in every checkpoint."""
    return json.dumps({"dropout_calls": [int(np.asarray(c.calls.asnumpy())) for c in cells]})


def restore(cells, params, calls_per_step):
    """Set the counters from a checkpoint's ``zoo_rng_state``; a checkpoint written before it existed (its masks were
    not reproducible anyway) gives ``calls_per_step`` (= the global step) calls to every layer.  Returns a note."""
    import mindspore as ms

    if not cells:
        return ""
    value = params.get(STATE_KEY)
    counts = None
    if isinstance(value, str):
        try:
            counts = [int(v) for v in json.loads(value)["dropout_calls"]]
        except (ValueError, KeyError, TypeError):
            counts = None
    note = ""
    if counts is None or len(counts) != len(cells):
        counts = [int(calls_per_step)] * len(cells)
        note = (f"the checkpoint has no dropout state for {len(cells)} layer(s); dropout continues from step "
                f"{int(calls_per_step)} (masks differ from the run it continues)")
    for cell, count in zip(cells, counts):
        cell.calls.set_data(ms.Tensor(count, ms.int64))
    return note


def read_state(path):
    """{STATE_KEY: json} of a checkpoint file (only that entry is built), or {} when it has none."""
    import mindspore as ms

    try:
        params = ms.load_checkpoint(str(path), choice_func=lambda name: name == STATE_KEY)
    except (ValueError, RuntimeError, OSError):
        return {}
    return {STATE_KEY: params[STATE_KEY]} if isinstance(params.get(STATE_KEY), str) else {}
