"""Per-synapse message delay models (the scenario's ``[latency]`` table, docs/semantics.md).

Delays are in simulated time units, the unit of the engine's clock, of
``firing.timeout`` and of ``firing.horizon``. Every model but ``empirical`` is
set by its *mean*, its shape given apart (lognormal ``sigma``, pareto
``alpha``), so that models compare at equal mean: changing the model changes
the spread and the tail of the delays, not their average, and a difference in
output latency comes from the tail alone.

Each model is a small class: parameters checked in ``__init__`` (``ValueError``),
``sample(rng, size)`` draws float64 delays with one vectorised call on the
Generator it is given (there is no global RNG), and ``mean`` / ``variance`` are
properties (``inf`` when infinite).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

Size = int | tuple[int, ...]


def _check(name: str, value: Any, low: float = 0.0, strict: bool = True) -> float:
    """``value`` as a finite float > low (>= low if not strict), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"latency {name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or (x <= low if strict else x < low):
        raise ValueError(f"latency {name} must be finite and {'>' if strict else '>='} {low:g}"
                         f", got {value!r}")
    return x


class LatencyModel:
    """A delay distribution on [0, inf): ``sample``, ``mean`` and ``variance``.

    ``sequential``: each delay takes the next values of the stream, so one call of
    size a + b draws what a call of size a then one of size b do.
    """

    sequential = True

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        """``size`` delays (an int or a shape) drawn from ``rng`` only, as float64."""
        return np.asarray(self._draw(rng, size), dtype=np.float64)

    def sample_into(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Fill ``out`` (float64) with what ``sample(rng, out.shape)`` returns, bit for bit."""
        out[...] = self.sample(rng, out.shape)

    def sample_rows(self, rngs: Iterable[np.random.Generator], out: np.ndarray) -> None:
        """Fill each row of ``out`` (B, n) from its own Generator, as ``sample_into`` does,
        bit for bit (a Generator is used before the next one is taken)."""
        for row, rng in zip(out, rngs):
            self.sample_into(rng, row)

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        raise NotImplementedError

    _mean: float

    @property
    def mean(self) -> float:
        """The mean delay."""
        return self._mean

    @property
    def variance(self) -> float:
        raise NotImplementedError


class Constant(LatencyModel):
    """Every message takes exactly ``mean`` (no randomness is drawn)."""

    def __init__(self, mean: float) -> None:
        self._mean = _check("mean", mean)

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return np.full(size, self._mean, dtype=np.float64)

    variance = property(lambda self: 0.0, doc="0.")

    def __repr__(self) -> str:
        return f"Constant(mean={self._mean!r})"


class Uniform(LatencyModel):
    """Uniform on [low, high]; given ``mean`` alone it is [0, 2 * mean]; given nothing, the
    default mean 1.0 of every model: [0, 2]."""

    def __init__(self, mean: float | None = None, low: float | None = None,
                 high: float | None = None) -> None:
        if mean is None and low is None and high is None:
            mean = 1.0
        if mean is not None:
            if low is not None or high is not None:
                raise ValueError("uniform latency takes either mean or low/high, not both")
            low, high = 0.0, 2.0 * _check("mean", mean)
        elif low is None or high is None:
            raise ValueError("uniform latency needs mean, or both low and high")
        self.low = _check("low", low, strict=False)
        self.high = _check("high", high, low=self.low)

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    mean = property(lambda self: (self.low + self.high) / 2, doc="(low + high) / 2.")
    variance = property(lambda self: (self.high - self.low) ** 2 / 12, doc="(high - low)^2 / 12.")

    def __repr__(self) -> str:
        return f"Uniform(low={self.low!r}, high={self.high!r})"


class Exponential(LatencyModel):
    """Exponential (memoryless) with the given mean."""

    def __init__(self, mean: float) -> None:
        self._mean = _check("mean", mean)

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.exponential(self._mean, size)

    def sample_into(self, rng: np.random.Generator, out: np.ndarray) -> None:
        # numpy draws exponential(scale) as scale * standard_exponential(), value by value
        # from the same stream: drawn in place, then scaled, the bits are the same.
        rng.standard_exponential(out=out)
        if self._mean != 1.0:  # x * 1.0 is x: a pass over the delays saved
            out *= self._mean

    def sample_rows(self, rngs: Iterable[np.random.Generator], out: np.ndarray) -> None:
        # The scaling once for the block: the same product of the same values.
        for row, rng in zip(out, rngs):
            rng.standard_exponential(out=row)
        if self._mean != 1.0:
            out *= self._mean

    variance = property(lambda self: self._mean**2, doc="mean^2.")

    def __repr__(self) -> str:
        return f"Exponential(mean={self._mean!r})"


class LogNormal(LatencyModel):
    """exp(N(mu, sigma^2)) with mu = log(mean) - sigma^2 / 2, so its mean is ``mean``."""

    def __init__(self, mean: float, sigma: float = 1.0) -> None:
        self._mean = _check("mean", mean)
        self.sigma = _check("sigma", sigma, strict=False)
        self.mu = math.log(self._mean) - self.sigma**2 / 2

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)


    @property
    def variance(self) -> float:
        """(exp(sigma^2) - 1) * mean^2 (inf on overflow)."""
        try:
            return math.expm1(self.sigma**2) * self._mean**2
        except OverflowError:
            return math.inf

    def __repr__(self) -> str:
        return f"LogNormal(mean={self._mean!r}, sigma={self.sigma!r})"


class Pareto(LatencyModel):
    """Classic Pareto, scale x_m = mean * (alpha - 1) / alpha, support [x_m, inf)."""

    def __init__(self, mean: float, alpha: float = 1.5) -> None:
        self._mean = _check("mean", mean)
        self.alpha = _check("alpha", alpha, low=1.0)
        self.scale = self._mean * (self.alpha - 1) / self.alpha

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return self.scale * (1.0 + rng.pareto(self.alpha, size))

    def sample_into(self, rng: np.random.Generator, out: np.ndarray) -> None:
        # `_draw`'s two operations, in place (x + 1.0 is 1.0 + x, bit for bit).
        x = rng.pareto(self.alpha, out.shape)
        x += 1.0
        np.multiply(x, self.scale, out=out)

    def sample_rows(self, rngs: Iterable[np.random.Generator], out: np.ndarray) -> None:
        # Generator.pareto draws expm1(E / alpha) for E a standard exponential: the
        # exponentials straight into the rows, then one compiled pass for expm1 and the two
        # steps above, the same operations on the same values (65.7 -> 52.8 us for the
        # digits network's 2,720 delays: no array made per trial, no extra passes).
        from neurosim.engines.kernels import pareto_from_exponential

        for row, rng in zip(out, rngs):
            rng.standard_exponential(out=row)
        pareto_from_exponential(out, self.alpha, self.scale)


    @property
    def variance(self) -> float:
        """x_m^2 alpha / ((alpha - 1)^2 (alpha - 2)); inf for alpha <= 2."""
        a = self.alpha
        return math.inf if a <= 2 else self.scale**2 * a / ((a - 1) ** 2 * (a - 2))

    def __repr__(self) -> str:
        return f"Pareto(mean={self._mean!r}, alpha={self.alpha!r})"


class Empirical(LatencyModel):
    """Draws uniformly, with replacement, from measured delays (1-D, finite, >= 0)."""

    def __init__(self, samples: Any) -> None:
        try:
            raw = np.asarray(samples)
        except (TypeError, ValueError):  # e.g. a ragged list
            raise ValueError("empirical latency samples must be a 1-D array of numbers") from None
        # Real numbers only: strings would be parsed, complex values truncated.
        if raw.dtype.kind not in "iuf":
            raise ValueError(f"empirical latency samples must be real numbers, not dtype "
                             f"{raw.dtype}")
        data = np.array(raw, dtype=np.float64)
        if data.ndim != 1 or data.size == 0:
            raise ValueError(f"empirical latency needs a non-empty 1-D array, got shape "
                             f"{data.shape}")
        if not np.all(np.isfinite(data)) or np.any(data < 0):
            raise ValueError("empirical latency samples must be finite and >= 0")
        data.flags.writeable = False
        self.samples = data

    # Generator.choice draws bounded integers 32 bits at a time, two from one 64-bit
    # draw; whether a half left over at the end of a call is kept for the next call
    # has differed between numpy versions, so the calls are not merged.
    sequential = False

    def _draw(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.choice(self.samples, size)

    mean = property(lambda self: float(self.samples.mean()), doc="The sample mean.")
    variance = property(lambda self: float(self.samples.var()), doc="The sample variance (1/n).")

    def __repr__(self) -> str:
        return f"Empirical(n={self.samples.size}, mean={self.mean!r})"


LATENCY_MODELS: dict[str, type[LatencyModel]] = {
    "constant": Constant, "uniform": Uniform, "exponential": Exponential,
    "lognormal": LogNormal, "pareto": Pareto, "empirical": Empirical,
}

_PARAMS = {"constant": {"mean"}, "uniform": {"mean", "low", "high"}, "exponential": {"mean"},
           "lognormal": {"mean", "sigma"}, "pareto": {"mean", "alpha"},
           "empirical": {"samples", "file"}}


def make_latency(model: str, **params: Any) -> LatencyModel:
    """The model named ``model`` built from ``params`` (the ``[latency]`` keys).

    ``empirical`` takes ``samples`` or ``file`` (a path the caller has already
    resolved). Raises ValueError on an unknown model or parameter.
    """
    if model not in LATENCY_MODELS:
        raise ValueError(f"unknown latency model {model!r}; known: {', '.join(LATENCY_MODELS)}")
    extra = sorted(set(params) - _PARAMS[model])
    if extra:
        raise ValueError(f"latency model {model!r} takes no parameter {', '.join(extra)}; "
                         f"allowed: {', '.join(sorted(_PARAMS[model]))}")
    if model == "empirical":
        if ("file" in params) == ("samples" in params):
            raise ValueError("empirical latency needs exactly one of file or samples")
        return load_empirical(params["file"]) if "file" in params else Empirical(params["samples"])
    return LATENCY_MODELS[model](**params)


def load_empirical(path: str | Path) -> Empirical:
    """An Empirical model from a .npy array or a one-column text/CSV file."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":  # D.NPY too: read as text, it was undecodable
            data = np.load(path, allow_pickle=False)
        else:
            with warnings.catch_warnings():  # an empty file: an error below, not a warning
                warnings.simplefilter("ignore", UserWarning)
                data = np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None,
                                  ndmin=1)
        if data.ndim == 2 and data.shape[1] == 1:
            data = data[:, 0]
        return Empirical(data)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read latency samples: {err}") from None
