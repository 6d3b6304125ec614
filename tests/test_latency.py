"""Latency models: means, supports, reproducibility, validation, file loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from neurosim.engines.latency import (
    LATENCY_MODELS,
    Constant,
    Empirical,
    Exponential,
    LatencyModel,
    LogNormal,
    Pareto,
    Uniform,
    load_empirical,
    make_latency,
)

N = 200_000
SEED = 20240607

MEAN_CASES = [
    Constant(2.5),
    Uniform(mean=1.5),
    Uniform(low=0.5, high=4.0),
    Exponential(1.0),
    LogNormal(2.0, sigma=1.0),
    LogNormal(0.3, sigma=0.25),
    Pareto(1.0, alpha=3.0),
    Empirical([0.1, 0.4, 0.4, 2.0, 7.5]),
]


@pytest.mark.parametrize("model", MEAN_CASES, ids=repr)
def test_sample_mean_within_six_standard_errors(model: LatencyModel) -> None:
    x = model.sample(np.random.default_rng(SEED), N)
    assert x.dtype == np.float64 and x.shape == (N,)
    # Tolerance: 6 standard errors of the mean, sqrt(variance / N) (0 for Constant).
    tol = 6 * math.sqrt(model.variance / N)
    assert abs(x.mean() - model.mean) <= tol + 1e-12 * model.mean


def test_stated_means() -> None:
    assert Uniform(mean=1.5).mean == 1.5 and (Uniform(mean=1.5).low, Uniform(1.5).high) == (0, 3)
    assert LogNormal(2.0, 0.7).mean == 2.0 and Pareto(2.0, 1.5).mean == 2.0
    assert Empirical([1.0, 2.0, 6.0]).mean == 3.0


def test_pareto_heavy_tail_infinite_variance_and_scale() -> None:
    model = Pareto(1.0, alpha=1.5)
    assert model.variance == math.inf and Pareto(1.0, alpha=2.0).variance == math.inf
    assert model.scale == pytest.approx(1.0 / 3.0)
    x = model.sample(np.random.default_rng(SEED), N)
    assert x.min() >= model.scale and np.all(np.isfinite(x))


def test_variances() -> None:
    assert Constant(3.0).variance == 0.0
    assert Uniform(low=1.0, high=4.0).variance == pytest.approx(9 / 12)
    assert Exponential(2.0).variance == 4.0
    assert LogNormal(1.0, 1.0).variance == pytest.approx(math.e - 1)
    assert LogNormal(1.0, 40.0).variance == math.inf
    assert Pareto(1.0, 3.0).variance == pytest.approx((2 / 3) ** 2 * 3 / 4)


def _check_samples(model: LatencyModel, seed: int) -> np.ndarray:
    x = model.sample(np.random.default_rng(seed), 100)
    assert x.dtype == np.float64 and x.shape == (100,)
    assert np.all(np.isfinite(x)) and np.all(x >= 0)
    return x


means = st.floats(min_value=1e-3, max_value=1e3)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=50, deadline=None)
@given(mean=means, seed=seeds)
def test_constant_exact(mean: float, seed: int) -> None:
    assert np.all(_check_samples(Constant(mean), seed) == mean)


@settings(max_examples=50, deadline=None)
@given(low=st.floats(min_value=0, max_value=1e3), width=st.floats(1e-3, 1e3), seed=seeds)
def test_uniform_within_bounds(low: float, width: float, seed: int) -> None:
    model = Uniform(low=low, high=low + width)
    x = _check_samples(model, seed)
    assert np.all((x >= model.low) & (x <= model.high))


@settings(max_examples=50, deadline=None)
@given(mean=means, seed=seeds)
def test_uniform_from_mean_within_bounds(mean: float, seed: int) -> None:
    x = _check_samples(Uniform(mean=mean), seed)
    assert np.all(x <= 2 * mean)


@settings(max_examples=50, deadline=None)
@given(mean=means, seed=seeds)
def test_exponential_nonnegative(mean: float, seed: int) -> None:
    _check_samples(Exponential(mean), seed)


@settings(max_examples=50, deadline=None)
@given(mean=means, sigma=st.floats(min_value=0, max_value=3), seed=seeds)
def test_lognormal_nonnegative(mean: float, sigma: float, seed: int) -> None:
    _check_samples(LogNormal(mean, sigma), seed)


@settings(max_examples=50, deadline=None)
@given(mean=means, alpha=st.floats(min_value=1.05, max_value=20), seed=seeds)
def test_pareto_above_scale(mean: float, alpha: float, seed: int) -> None:
    model = Pareto(mean, alpha)
    assert np.all(_check_samples(model, seed) >= model.scale)


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=30),
       seed=seeds)
def test_empirical_draws_from_the_samples(data: list[float], seed: int) -> None:
    x = _check_samples(Empirical(data), seed)
    assert np.all(np.isin(x, np.array(data)))


@pytest.mark.parametrize("model", MEAN_CASES + [Pareto(1.0, 1.5)], ids=repr)
def test_same_seed_same_samples(model: LatencyModel) -> None:
    a = model.sample(np.random.default_rng(7), (4, 5))
    b = model.sample(np.random.default_rng(7), (4, 5))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model", MEAN_CASES + [Pareto(1.0, 1.5)], ids=repr)
@pytest.mark.parametrize("size, shape", [(3, (3,)), (0, (0,)), ((), ()), ((2, 3), (2, 3))])
def test_shape_follows_size(model: LatencyModel, size, shape) -> None:
    x = model.sample(np.random.default_rng(0), size)
    assert isinstance(x, np.ndarray) and x.shape == shape and x.dtype == np.float64


BAD = [nan := float("nan"), math.inf, -math.inf, 0.0, -1.0, "1", None, True]


@pytest.mark.parametrize(
    "cls, kwargs",
    [(Constant, {"mean": m}) for m in BAD]
    + [(Exponential, {"mean": m}) for m in BAD]
    + [(LogNormal, {"mean": m}) for m in BAD]
    + [(Pareto, {"mean": m}) for m in BAD]
    + [(Uniform, {"mean": m}) for m in BAD if m is not None]
    + [(LogNormal, {"mean": 1.0, "sigma": s}) for s in (-0.1, nan, math.inf)]
    + [(Pareto, {"mean": 1.0, "alpha": a}) for a in (1.0, 0.5, -2.0, nan, math.inf)]
    + [
        (Uniform, {"low": 1.0}),
        (Uniform, {"high": 1.0}),
        (Uniform, {"mean": 1.0, "low": 0.0, "high": 2.0}),
        (Uniform, {"low": -0.5, "high": 1.0}),
        (Uniform, {"low": 2.0, "high": 2.0}),
        (Uniform, {"low": 3.0, "high": 2.0}),
        (Uniform, {"low": 0.0, "high": math.inf}),
        (Uniform, {"low": nan, "high": 1.0}),
        (Empirical, {"samples": []}),
        (Empirical, {"samples": [[1.0, 2.0]]}),
        (Empirical, {"samples": 1.0}),
        (Empirical, {"samples": [1.0, -0.1]}),
        (Empirical, {"samples": [1.0, nan]}),
        (Empirical, {"samples": [1.0, math.inf]}),
        (Empirical, {"samples": ["a"]}),
    ],
    ids=repr,
)
def test_invalid_parameters_raise(cls: type, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_registry_and_make_latency() -> None:
    assert set(LATENCY_MODELS) == {
        "constant", "uniform", "exponential", "lognormal", "pareto", "empirical"}
    assert repr(make_latency("pareto", mean=2.0, alpha=2.5)) == "Pareto(mean=2.0, alpha=2.5)"
    assert isinstance(make_latency("uniform", low=1.0, high=2.0), Uniform)
    assert make_latency("empirical", samples=[1.0, 3.0]).mean == 2.0
    assert repr(make_latency("lognormal", mean=1.0)) == "LogNormal(mean=1.0, sigma=1.0)"


def test_make_latency_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="gamma") as err:
        make_latency("gamma", mean=1.0)
    assert all(name in str(err.value) for name in LATENCY_MODELS)


@pytest.mark.parametrize("model, params", [
    ("exponential", {"mean": 1.0, "sigma": 1.0}),
    ("constant", {"mean": 1.0, "alpha": 2.0}),
    ("empirical", {"samples": [1.0], "mean": 1.0}),
    ("empirical", {}),
    ("empirical", {"samples": [1.0], "file": "x.npy"}),
])
def test_make_latency_bad_parameter(model: str, params: dict) -> None:
    with pytest.raises(ValueError):
        make_latency(model, **params)


@pytest.mark.parametrize("suffix", [".npy", ".txt", ".csv"])
def test_empirical_file_round_trip(tmp_path, suffix: str) -> None:
    data = np.random.default_rng(1).lognormal(0.0, 1.0, 50)
    path = tmp_path / f"delays{suffix}"
    if suffix == ".npy":
        np.save(path, data)
    else:
        np.savetxt(path, data, fmt="%.17g")
    for model in (load_empirical(path), make_latency("empirical", file=str(path))):
        np.testing.assert_array_equal(model.samples, data)
        assert model.mean == pytest.approx(data.mean())


@pytest.mark.parametrize("name, content", [
    ("two.csv", "1,2\n3,4\n"), ("neg.txt", "1\n-2\n"), ("word.txt", "1\nabc\n"),
    ("empty.txt", ""), ("missing.txt", None),
])
def test_load_empirical_bad_file_names_the_path(tmp_path, name: str, content) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=name):
        load_empirical(path)


def test_load_empirical_npy_column_and_bad_shape(tmp_path) -> None:
    np.save(tmp_path / "col.npy", np.array([[1.0], [3.0]]))
    assert load_empirical(tmp_path / "col.npy").mean == 2.0
    np.save(tmp_path / "grid.npy", np.ones((2, 2)))
    with pytest.raises(ValueError, match="grid.npy"):
        load_empirical(tmp_path / "grid.npy")


@settings(max_examples=60, deadline=None)
@example(seed=5, mean=1.0, n=1000, name="exponential")
@example(seed=5, mean=1.0, n=1000, name="pareto")
@given(seed=st.integers(0, 2**63), mean=st.floats(1e-3, 1e3), n=st.integers(0, 3000),
       name=st.sampled_from(["constant", "uniform", "exponential", "lognormal", "pareto"]))
def test_sample_into_draws_what_sample_draws(seed, mean, n, name):
    """Drawn in place (the block plans' way), a model gives the bits `sample` gives, and
    leaves its Generator in the same state."""
    model = make_latency(name, mean=mean)
    out = np.full(n, np.nan)
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    model.sample_into(a, out)
    ref = model.sample(b, n)
    assert out.tobytes() == ref.tobytes()
    assert a.bit_generator.state == b.bit_generator.state
