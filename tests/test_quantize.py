"""Quantized weights ([failures] bits): the rounding by hand, the engines compute with the
stored weights (identical trials on both), the bounds cover them, and the fewest bits
within epsilon are the fewest (checked by brute force)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from neurosim.bounds.bits import fewest_bits, with_bits
from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.weight_aware import weight_aware_bound
from neurosim.data.counts import failure_counts
from neurosim.data.network import make_network, random_network
from neurosim.data.quantize import memory_bits, quantization_eta, quantize
from neurosim.data.scenario import parse_scenario
from neurosim.front.cli import main
from neurosim.runner import run_trials
from neurosim.setup import prepare


def test_quantize_by_hand():
    W = np.array([[1.0, -0.3], [0.26, 0.0]])
    # 3 bits: integers -3..3, step 1/3.
    expected = np.array([[1.0, -1 / 3], [1 / 3, 0.0]])
    np.testing.assert_allclose(quantize(W, 3), expected, rtol=0, atol=1e-15)
    assert quantization_eta(W, 3) == pytest.approx(1 / 6)
    # 2 bits: integers -1..1, step 1: -0.3 and 0.26 round to 0.
    np.testing.assert_array_equal(quantize(W, 2), [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("bits", [2, 3, 5, 8, 12, 16, 24, 32])
def test_quantize_levels_and_error(bits):
    rng = np.random.default_rng(bits)
    W = rng.normal(0, 2, (20, 30))
    Q = quantize(W, bits)
    step = np.abs(W).max() / (2 ** (bits - 1) - 1)
    k = Q / step
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)  # integer multiples of the step
    assert np.abs(np.round(k)).max() <= 2 ** (bits - 1) - 1
    assert np.abs(Q - W).max() <= quantization_eta(W, bits)
    assert quantization_eta(W, bits) <= step / 2 * (1 + 1e-12)
    assert np.abs(Q).max() == pytest.approx(np.abs(W).max())  # the largest weight is exact


def test_memory_bits():
    net = random_network([4, 3, 2], "sigmoid", 0.5, np.random.default_rng(0))
    assert memory_bits(net, None) == 32 * (12 + 6)
    assert memory_bits(net, [8, 4]) == 8 * 12 + 32 + 4 * 6 + 32


def _scenario(bits, engine_trials=30, extra=""):
    text = {
        "name": "q", "seed": 5, "trials": engine_trials,
        "network": {"sizes": [6, 7, 5, 3], "activation": "tanh", "weight_scale": 0.8},
        "failures": {"bits": bits},
        "latency": {"model": "exponential"},
    }
    return parse_scenario(text)


@pytest.mark.parametrize("bits", [3, [4, 2, 6]])
def test_engines_identical_and_compute_with_stored_weights(tmp_path, bits):
    setup = prepare(_scenario(bits))
    for engine in ("des", "fast"):
        run_trials(setup, engine, tmp_path / engine)
    a = (tmp_path / "des" / "trials.csv").read_text()
    assert a == (tmp_path / "fast" / "trials.csv").read_text()
    # No failure but the quantization, wait-all: every trial's error is the quantized
    # network's deviation, computed here with numpy from the rounded weights.
    net = setup.net
    per = [bits] * 3 if isinstance(bits, int) else bits
    qnet = make_network([quantize(W, b) for W, b in zip(net.weights, per)], net.biases,
                        net.activations, net.input_low, net.input_high)
    dev = np.abs(qnet.forward(setup.inputs) - net.forward(setup.inputs)).max(axis=1)
    rows = list(csv.DictReader(open(tmp_path / "fast" / "trials.csv")))
    got = np.array([float(r["error"]) for r in rows])
    np.testing.assert_allclose(got, dev[[int(r["input_index"]) for r in rows]], rtol=1e-12,
                               atol=1e-15)
    assert got.max() > 0
    summary = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert summary["violations"] == 0
    assert summary["bits_per_layer"] == per
    assert summary["max_error"] <= summary["bound_weight_aware"] <= summary["bound_paper"]
    assert summary["weight_precision_per_layer"] == pytest.approx(
        [np.abs(W).max() / (2 ** (b - 1) - 1) / 2 for W, b in zip(net.weights, per)])


def test_fewest_bits_brute_force():
    net = random_network([8, 10, 6, 3], "sigmoid", 1.0, np.random.default_rng(3))
    base = failure_counts(net, crash=[1, 0])
    iv = interval_bounds(net)

    def bound(f):
        return weight_aware_bound(net, f, intervals=iv)

    floor = bound(base)  # the crash alone
    for epsilon in (floor * 1.001, floor * 1.1, floor * 2):
        b, per = fewest_bits(net, base, epsilon, bound)
        fits = [bound(with_bits(net, base, k)) <= epsilon for k in range(2, 33)]
        assert b == 2 + fits.index(True)
        assert bound(with_bits(net, base, per)) <= epsilon
        assert all(x <= b for x in per)
        for i in range(3):  # no single layer can drop one more bit
            if per[i] > 2:
                fewer = per.copy()
                fewer[i] -= 1
                assert bound(with_bits(net, base, fewer)) > epsilon
    assert fewest_bits(net, base, floor * 0.99, bound) == (None, None)


def test_bound_cli_fewest_bits(tmp_path, capsys):
    net = random_network([8, 10, 6, 3], "sigmoid", 1.0, np.random.default_rng(3))
    from neurosim.data.network import save_network

    path = tmp_path / "n.npz"
    save_network(net, path)
    assert main(["bound", str(path), "--crash", "0", "--epsilon", "0.01", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    b = r["fewest_bits_weight_aware"]
    assert 2 <= b <= 32 and len(r["fewest_bits_per_layer_weight_aware"]) == 3
    assert r["fewest_bits_paper"] >= b  # the paper's bound is the larger one
    assert 0 < r["memory_saved_weight_aware"] < 1


def test_bits_and_precision_add_up(tmp_path):
    """Quantized weights then off by +-precision: eta is half a step plus the precision,
    and every trial stays within its bounds on both engines."""
    scn = parse_scenario({
        "name": "qp", "seed": 2, "trials": 20,
        "network": {"sizes": [6, 7, 5, 3], "activation": "sigmoid", "weight_scale": 0.8},
        "failures": {"bits": 5, "precision": 0.01, "crash": [1, 0]},
        "latency": {"model": "constant"},
        "firing": {"rule": "timeout", "timeout": 0.5},
    })
    setup = prepare(scn)
    steps = [np.abs(W).max() / 15 for W in setup.net.weights]
    assert list(setup.failures.eta) == pytest.approx([d / 2 + 0.01 for d in steps])
    for engine in ("des", "fast"):
        assert run_trials(setup, engine, tmp_path / engine)["violations"] == 0
    assert (tmp_path / "des" / "trials.csv").read_text() == \
        (tmp_path / "fast" / "trials.csv").read_text()
