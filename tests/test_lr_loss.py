"""Schedules against their closed forms; the label-smoothing cross entropy against numpy."""
import math

import mindspore as ms
import numpy as np
import pytest

from model_zoo.engine import lr
from model_zoo.engine.loss import CrossEntropySmooth, smoothing_factor


def test_cosine_annealing_is_epochwise_with_linear_warmup():
    values = lr.cosine_annealing(0.1, steps_per_epoch=4, max_epoch=6, T_max=6, eta_min=0.001, warmup_epochs=1)
    assert len(values) == 24
    np.testing.assert_allclose(values[:4], [0.1 * (i + 1) / 4 for i in range(4)], rtol=1e-6)
    for i in range(4, 24):
        epoch = i // 4
        assert values[i] == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi * epoch / 6)) / 2, rel=1e-6)
    assert values[4] == values[7]  # constant within an epoch


def test_multistep_exponential_decays_at_milestones():
    values = lr.multistep(0.1, steps_per_epoch=3, max_epoch=8, milestones=[2, 5], gamma=0.1, warmup_epochs=1)
    expected = [0.1 * (i + 1) / 3 for i in range(3)] + [0.1] * 3 + [0.01] * 9 + [0.001] * 9
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_poly_step_matches_upstream_lr_steps():
    values = lr.poly_step(0.01, 0.1, steps_per_epoch=2, max_epoch=10, warmup_epochs=5)
    for i in range(10):
        assert values[i] == pytest.approx(0.01 + (0.1 - 0.01) / 10 * i, rel=1e-6)
    for i in range(10, 20):
        assert values[i] == pytest.approx(0.1 * (1 - (i - 10) / 10) ** 2, rel=1e-5)


def test_inception_warmup_then_per_step_cosine():
    values = lr.warmup_cosine_per_step(5, 4, lr_init=4e-5, lr_end=4e-6, lr_max=0.4, warmup_epochs=1)
    assert len(values) == 20
    assert values[4] == pytest.approx(0.4, rel=1e-6)
    assert values[0] == pytest.approx(4e-5 + (0.4 - 4e-5) / 5, rel=1e-6)
    for i in range(5, 20):
        assert values[i] == pytest.approx((0.4 - 4e-6) * 0.5 * (1 + math.cos(math.pi * (i - 5) / 15)) + 4e-6, rel=1e-5)
    assert len(lr.warmup_cosine_per_step(5, 4, 4e-5, 4e-6, 0.4, 1, start_epoch=3)) == 10


def _numpy_ce(logits, labels, eps):
    classes = logits.shape[1]
    target = np.full(logits.shape, eps / (classes - 1))
    target[np.arange(len(labels)), labels] = 1 - eps
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-(target * log_p).sum(1).mean())


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cross_entropy_matches_numpy(eps):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 5)).astype(np.float32) * 3
    labels = rng.integers(0, 5, 6).astype(np.int32)
    got = float(CrossEntropySmooth(5, eps)(ms.Tensor(logits), ms.Tensor(labels)).asnumpy())
    assert got == pytest.approx(_numpy_ce(logits.astype(np.float64), labels, eps), rel=1e-5)


def test_smoothing_only_when_enabled():
    assert smoothing_factor(0, 0.1) == 0.0 and smoothing_factor(1, 0.1) == 0.1
