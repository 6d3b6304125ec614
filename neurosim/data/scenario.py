"""Scenario files (docs/scenarios.md): TOML in, a validated, typed Scenario out.

Stages, as in Ciw: parse the TOML -> fill defaults and check types and
ranges (pydantic, unknown keys refused) -> check what needs the network
(counts against layer sizes, quorums) in `neurosim.data.build`. Every error
is an InputError naming the file and the dotted key.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from neurosim.errors import InputError

# Strict numbers: TOML's true/false are not counts or sizes (lax pydantic reads
# true as 1), and 2.5 is not a count. Floats still accept integers (mean = 1).
Int = Annotated[int, Field(strict=True)]
NonNegInt = Annotated[int, Field(ge=0, strict=True)]
PosInt = Annotated[int, Field(gt=0, strict=True)]
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, strict=True, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0.0, strict=True, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0, strict=True)]
Counts = NonNegInt | list[NonNegInt]
Bits = Annotated[StrictInt, Field(ge=2, le=32)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]
Activation = Literal["sigmoid", "tanh", "relu", "identity", "hard_sigmoid"]


# A folder name's longest on common file systems (ext4, APFS, NTFS: 255).
MAX_NAME_BYTES = 255


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainSpec(Section):
    """Train a scikit-learn MLPClassifier on a bundled dataset."""

    dataset: Literal["digits"] = "digits"
    hidden: list[PosInt] = [32, 16]
    activation: Literal["sigmoid", "tanh", "relu", "identity"] = "sigmoid"
    seed: Int = 0
    max_iter: PosInt = 300
    test_fraction: Fraction = 0.3
    alpha: NonNegFloat = 1e-4  # L2 weight penalty (scikit-learn's default)


class NetworkSpec(Section):
    file: str | None = None
    sizes: list[PosInt] | None = None
    activation: Activation | list[Activation] = "sigmoid"
    # Weights are drawn uniform in [-s, s]: the width 2 s must be a float64 too.
    weight_scale: Annotated[PosFloat, Field(lt=2.0 ** 1023)] = 0.5
    train: TrainSpec | None = None
    input_low: Float | list[Float] | None = None
    input_high: Float | list[Float] | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> NetworkSpec:
        given = [k for k in ("file", "sizes", "train") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of file, sizes, train (got {', '.join(given) or 'none'})"
            )
        if self.sizes is not None and len(self.sizes) < 2:
            raise ValueError("sizes needs at least [N_0, N_out]")
        return self


class InputsSpec(Section):
    """Evaluation inputs. `dataset`: the held-out split of a bundled dataset (the split of
    [network] train when the network is trained here, else test_fraction / split_seed)."""

    kind: Literal["uniform", "corner", "dataset", "file"] = "uniform"
    file: str | None = None
    labels: str | None = None
    dataset: Literal["digits"] = "digits"
    test_fraction: Fraction = 0.3
    split_seed: Int = 0

    @model_validator(mode="after")
    def _file_given(self) -> InputsSpec:
        if self.kind == "file" and self.file is None:
            raise ValueError("kind = 'file' needs file = 'x.npy'")
        if self.kind != "file" and (self.file is not None or self.labels is not None):
            raise ValueError(f"file/labels are only read with kind = 'file' (kind is "
                             f"'{self.kind}')")
        return self


class FailuresSpec(Section):
    """Counts per hidden layer 1..L (neurons) or per receiving layer 1..L+1 (synapses)."""

    # "tolerated": per hidden layer, the most crashes the weight-aware bound tolerates
    # within [firing] epsilon, one layer at a time (resolved in neurosim.setup).
    crash: Counts | Literal["tolerated"] = 0
    byzantine: Counts = 0
    synapse_crash: Counts = 0
    synapse_byzantine: Counts = 0
    precision: NonNegFloat | list[NonNegFloat] = 0.0
    # b-bit symmetric fixed-point weights, per weight layer 1..L+1 (neurosim.data.quantize).
    bits: Bits | list[Bits] | None = None
    # Independent failures in each trial, per hidden layer 1..L / receiving layer 1..L+1
    # (neurosim.data.random_failures); instead of crash / synapse_crash for those layers.
    crash_probability: Probability | list[Probability] | None = None
    synapse_crash_probability: Probability | list[Probability] | None = None
    capacity: NonNegFloat = 1.0
    placement: Literal["random", "worst", "list"] = "random"
    crashed: list[tuple[Int, Int]] | None = None
    byzantine_list: list[tuple[Int, Int]] | None = None
    pinned: str | None = None
    byzantine_mode: Literal["random", "adversarial", "constant"] = "adversarial"
    crash_time: NonNegFloat | None = None
    stragglers: Counts = 0
    synapse_stragglers: Counts = 0
    straggler_factor: Annotated[float, Field(ge=1.0, strict=True, allow_inf_nan=False)] = 10.0

    @field_validator("bits", mode="before")
    @classmethod
    def _bits_shape(cls, v: Any) -> Any:
        def width(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool) and 2 <= x <= 32

        if v is None or width(v) or (isinstance(v, list) and v and all(width(x) for x in v)):
            return v
        raise ValueError(f"must be an integer from 2 to 32, or a list of them (one per "
                         f"weight layer 1..L+1); got {v!r}")

    @field_validator("crash_probability", "synapse_crash_probability", mode="before")
    @classmethod
    def _probability_shape(cls, v: Any) -> Any:
        def prob(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1

        if v is None or prob(v) or (isinstance(v, list) and v and all(prob(x) for x in v)):
            return v
        raise ValueError(f"must be a probability in [0, 1], or a list of them (one per "
                         f"layer); got {v!r}")

    @model_validator(mode="after")
    def _list_placement(self) -> FailuresSpec:
        if self.placement == "list" and self.crashed is None and self.byzantine_list is None \
                and self.pinned is None:
            raise ValueError("placement = 'list' needs crashed = [[layer, index], ...]")
        if self.placement != "list" and (self.crashed or self.byzantine_list or self.pinned):
            raise ValueError("crashed/byzantine_list/pinned are only read with placement = 'list'")
        return self


_LOG_SMALLEST_NORMAL = math.log(2.2250738585072014e-308)


class LatencySpec(Section):
    model: Literal["constant", "uniform", "exponential", "lognormal", "pareto", "empirical"] = (
        "exponential"
    )
    mean: PosFloat | None = None
    sigma: NonNegFloat = 1.0
    alpha: Annotated[float, Field(gt=1.0, strict=True, allow_inf_nan=False)] = 1.5
    low: NonNegFloat | None = None
    high: PosFloat | None = None
    file: str | None = None
    processing: NonNegFloat = 0.0

    @model_validator(mode="after")
    def _parameters(self) -> LatencySpec:
        if self.model == "empirical":
            if self.file is None:
                raise ValueError("model = 'empirical' needs file = 'delays.npy'")
        elif self.model == "uniform" and self.mean is None and \
                (self.low is not None or self.high is not None):
            # Neither: the default mean 1.0, as for every model ([0, 2]).
            if self.low is None or self.high is None or self.high <= self.low:
                raise ValueError("uniform needs mean, or low < high")
        elif self.model == "uniform" and (self.low is not None or self.high is not None):
            # Both: which one sets the delays? (mean won, low/high were dropped unread.)
            raise ValueError("uniform takes mean (delays in [0, 2 mean]) or low and high, "
                             "not both")
        elif self.mean is None:
            self.mean = 1.0
        if self.model == "lognormal" and \
                math.log(self.mean) - self.sigma ** 2 / 2 < _LOG_SMALLEST_NORMAL:
            # Its median mean * exp(-sigma^2 / 2) is below float64's normal range: the
            # delays drawn are 0 or denormal (sigma = 1e10 gave every delay 0.0 for mean 1).
            raise ValueError(f"lognormal with mean {self.mean:g} and sigma {self.sigma:g} has "
                             f"the median mean * exp(-sigma^2 / 2) = exp("
                             f"{math.log(self.mean) - self.sigma ** 2 / 2:.4g}): its delays "
                             f"underflow to 0 in float64; use a smaller sigma")
        return self


class FiringSpec(Section):
    rule: Literal["wait-all", "quorum", "timeout", "quorum-or-timeout"] = "wait-all"
    quorum: Literal["auto"] | PosInt | list[PosInt] | None = None
    epsilon: PosFloat | None = None
    # greedy by default: "equal" spends the budget where a skip is cheap (the output
    # layer), which barely moves a heavy-tailed latency (README, Boosting).
    allocation: Literal["equal", "greedy"] = "greedy"
    # signed: the tightest certificate (never above the weight-aware bound).
    certify: Literal["signed", "weight_aware", "paper"] = "signed"
    timeout: PosFloat | None = None
    timeout_from: Literal["first", "start"] = "first"
    horizon: PosFloat = 1000.0

    @field_validator("quorum", mode="before")
    @classmethod
    def _quorum_shape(cls, v: Any) -> Any:
        def positive_int(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool) and x > 0

        if v is None or v == "auto" or positive_int(v) or (
                isinstance(v, list) and v and all(positive_int(x) for x in v)):
            return v
        raise ValueError(f"must be 'auto', a positive integer, or a list of them "
                         f"(one per layer 1..L+1); got {v!r}")

    @model_validator(mode="after")
    def _rule_parameters(self) -> FiringSpec:
        if "quorum" in self.rule and self.quorum is None:
            raise ValueError(f"rule = '{self.rule}' needs quorum")
        if "timeout" in self.rule and self.timeout is None:
            raise ValueError(f"rule = '{self.rule}' needs timeout")
        if self.quorum == "auto" and self.epsilon is None:
            raise ValueError("quorum = 'auto' needs epsilon (the tolerated error)")
        return self


class Scenario(Section):
    """One experiment. `source` is the file it came from; paths resolve against `base_dir`."""

    name: str = ""
    seed: NonNegInt = 0
    trials: PosInt = 100
    network: NetworkSpec
    inputs: InputsSpec = InputsSpec()
    failures: FailuresSpec = FailuresSpec()
    latency: LatencySpec = LatencySpec()
    firing: FiringSpec = FiringSpec()
    sweep: dict[str, list[Any]] = {}
    source: str = Field(default="<scenario>", exclude=True)
    base_dir: str = Field(default=".", exclude=True)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # The name is a folder under results/: a path in it would write elsewhere, a
        # control character (a NUL, a newline) or a name longer than a file system's
        # 255 bytes cannot be a folder, or only one nobody can type.
        if v in ("", ".", "..") or "/" in v or "\\" in v:
            raise ValueError(f"must be a plain folder name (no '/' or '\\'), got {v!r}")
        if not v.isprintable() or v != v.strip():
            raise ValueError(f"must be a plain folder name (printable, no control character "
                             f"nor leading or trailing space), got {v!r}")
        if len(v.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"must be a folder name of at most {MAX_NAME_BYTES} bytes, got "
                             f"{len(v.encode())}")
        return v

    @field_validator("sweep")
    @classmethod
    def _sweep_lists(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"sweep key {key!r} has no values")
            if key.split(".")[0] in ("sweep", "source", "base_dir"):
                raise ValueError(f"{key!r} cannot be swept (it is not a scenario key a "
                                 "point can change)")
            # The same value twice is the same point twice: run twice into one folder
            # (at once, with --workers) and two rows of sweep.csv for one point.
            seen = [json.dumps(x, sort_keys=True) for x in values]
            for i, text in enumerate(seen):
                if text in seen[:i]:
                    raise ValueError(f"sweep key {key!r} lists {text} twice")
        return v

    def path(self, relative: str) -> Path:
        """A path from the scenario file, resolved against the scenario's folder."""
        p = Path(relative)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude={"source", "base_dir"}, exclude_none=True)


def _error_key(err: dict[str, Any]) -> str:
    # pydantic locates a union member by its type name ("int", "constrained-int",
    # "list[constrained-int]", "literal['tolerated']"); keep only real keys. Matched whole,
    # not as a prefix: "straggler_factor" begins like "str".
    parts = [str(p) for p in err["loc"] if not _TYPE_NAME.fullmatch(str(p))]
    return ".".join(parts) or "<top>"


_TYPE_NAME = re.compile(r"int|float|str|bool|none|(list|dict|tuple|literal|function|"
                        r"constrained)\W.*")


# Keys that only some firing rules or latency models read: (section, the key that chooses)
# -> {key: the choices that read it}.
READ_BY: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("firing", "rule"): {
        "quorum": ("quorum", "quorum-or-timeout"),
        "timeout": ("timeout", "quorum-or-timeout"),
        "timeout_from": ("timeout", "quorum-or-timeout"),
    },
    ("latency", "model"): {
        "mean": ("constant", "uniform", "exponential", "lognormal", "pareto"),
        "sigma": ("lognormal",),
        "alpha": ("pareto",),
        "low": ("uniform",),
        "high": ("uniform",),
        "file": ("empirical",),
    },
}


def _unread_keys(data: dict[str, Any], sweep: Any, source: str) -> None:
    """Refuse, then drop, the keys of `data` its firing rule or latency model does not read.

    A key no rule (model) of the scenario reads is refused, as `inputs.file` is without
    kind = "file": `rule = "quorum"` with a timeout is likely meant as quorum-or-timeout.
    `sweep`: the file's [sweep] table, whose values of `firing.rule` / `latency.model` read
    keys too (a sweep over the rule sets each rule's keys once); each point, and the base
    run, then drops the keys its own rule (model) does not read. Values of the wrong type
    are left to the schema.
    """
    sweep = sweep if isinstance(sweep, dict) else {}
    for (section, chooser), readers in READ_BY.items():
        node = data.get(section)
        if not isinstance(node, dict):
            continue
        spec = {"firing": FiringSpec, "latency": LatencySpec}[section]
        current = node.get(chooser, spec.model_fields[chooser].default)
        swept = sweep.get(f"{section}.{chooser}")
        choices = get_args(spec.model_fields[chooser].annotation)
        if current not in choices or (swept is not None and not isinstance(swept, list)):
            continue  # a misspelt rule or model: the schema names it
        in_play = {current} | {v for v in swept or [] if v in choices}
        for key, read in readers.items():
            if key in node and not in_play & set(read):
                whom = " or ".join(f"'{r}'" for r in read)
                also = f" (nor does any {chooser} of [sweep])" if swept else ""
                raise InputError(source, f"{section}.{key}",
                                 f"{chooser} = '{current}' does not read {key}{also}; only "
                                 f"{chooser} = {whom} does")
        if current == "uniform" and ("low" in node or "high" in node):
            if "mean" in node and "low" in node and "high" in node and swept:
                del node["mean"]  # the mean of the sweep's other models; low, high are ours
            if "mean" in node:
                key = "low" if "low" in node else "high"
                raise InputError(source, f"latency.{key}", "uniform takes mean (delays on "
                                 "[0, 2 mean]) or low and high, not both")
            if ("low" in node) != ("high" in node):
                given, other = ("low", "high") if "low" in node else ("high", "low")
                raise InputError(source, f"latency.{other}", f"uniform with {given} needs "
                                 f"{other} too (or mean alone: delays on [0, 2 mean])")
            low, high = node["low"], node["high"]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (low, high)) and high <= low:
                raise InputError(source, "latency.high", f"must be above low = {low!r}, "
                                 f"got {high!r}")
        for key, read in readers.items():
            if key in node and current not in read:
                del node[key]


def _some(value: Any) -> bool:
    """Whether a count or probability, or a list of them, is not all zero. A value of
    another type ("tolerated", or one the schema will refuse) counts as some."""
    if isinstance(value, list):
        return any(_some(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    return value is not None


def _listed(value: Any) -> bool:
    """Whether a list of [layer, index] pairs names any (a non-list counts as some)."""
    return value != [] and value is not None


# Keys read only where some failure, or an automatic quorum, is in play: (section, key) ->
# (what reads it, {a key of the section that puts it in play: whether its value does}).
USED_WITH: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    # A synapse crash loses its messages from the start: only neurons crash at a time.
    ("failures", "crash_time"): ("neurons that crash", {
        "crash": _some, "crash_probability": _some, "crashed": _listed}),
    ("failures", "straggler_factor"): ("stragglers", {
        "stragglers": _some, "synapse_stragglers": _some}),
    # A pinned file may replace synapses (their values default to the mode's).
    ("failures", "byzantine_mode"): ("Byzantine neurons or synapses", {
        "byzantine": _some, "synapse_byzantine": _some, "byzantine_list": _listed,
        "pinned": _listed}),
    ("firing", "allocation"): ('quorum = "auto"', {"quorum": lambda v: v == "auto"}),
    ("firing", "certify"): ('quorum = "auto"', {"quorum": lambda v: v == "auto"}),
}


def _unused_keys(data: dict[str, Any], sweep: Any, source: str) -> None:
    """Refuse a key of USED_WITH that no failure (quorum) of the scenario reads: a crash
    time without crashed neurons, a straggler factor without stragglers, a Byzantine mode
    without Byzantine failures, a quorum search's allocation or certifier with a fixed
    quorum. It is likely a scenario meant with those failures (or quorum = "auto").

    `sweep`: the file's [sweep] table. A value it gives a key that puts the key in play
    counts (`crash_time` with a sweep over crash counts [0, 1] is read by some points; the
    points with crash = 0 keep it, unread). Values of the wrong type are left to the schema.
    """
    sweep = sweep if isinstance(sweep, dict) else {}
    for (section, key), (readers, in_play) in USED_WITH.items():
        node = data.get(section)
        if not isinstance(node, dict) or key not in node or section in sweep:
            continue  # (a sweep over the whole section: its points say)
        for name, reads in in_play.items():
            values = [node[name]] if name in node else []
            swept = sweep.get(f"{section}.{name}")
            values += swept if isinstance(swept, list) else [] if swept is None else [swept]
            if any(reads(v) for v in values):
                break
        else:
            given = ", ".join(f"{section}.{name}" for name in in_play)
            also = " (nor with any value of [sweep])" if sweep else ""
            raise InputError(source, f"{section}.{key}",
                             f"{key} is read only with {readers} ({given}), and this "
                             f"scenario has none{also}")


def parse_scenario(data: dict[str, Any], source: str = "<scenario>", base_dir: str = ".",
                   default_name: str = "scenario", sweep: dict[str, Any] | None = None
                   ) -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    sweep: the [sweep] table of the file the scenario came from, when `data` is one of
    its points (whose own sweep is emptied); default: `data`'s own.
    """
    data = copy.deepcopy(data)
    for reserved in ("source", "base_dir"):  # set here, from the file: not a scenario key
        if reserved in data:
            raise InputError(source, reserved, "unknown key")
    data.setdefault("name", default_name)
    if "network" not in data:
        raise InputError(source, "network", "missing section [network]")
    sweep = data.get("sweep") if sweep is None else sweep
    # Unused keys first: a rule the [sweep] reads keeps its quorum = "auto" there.
    _unused_keys(data, sweep, source)
    _unread_keys(data, sweep, source)
    try:
        scn = Scenario.model_validate({**data, "source": source, "base_dir": base_dir})
    except ValidationError as err:
        first = err.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise InputError(source, _error_key(first), msg) from None
    return scn


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario file; `overrides` are dotted keys (e.g. from a sweep)."""
    path = Path(path)
    src = str(path)
    if path.is_dir():
        raise InputError(src, None, "is a directory, not a scenario file")
    if not path.is_file():
        raise InputError(src, None, "scenario file not found")
    if path.suffix.lower() in (".npz", ".onnx", ".joblib"):
        raise InputError(src, None, "a network file, not a scenario: use `neurosim bound` on it, "
                                    'or write a scenario with [network] file = "..."')
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(src, None, f"malformed TOML ({err})") from None
    sweep = data.get("sweep")  # the file's: its rules and models read keys too
    for key, value in (overrides or {}).items():
        set_dotted(data, key, value, src)
    return parse_scenario(data, src, str(path.parent), path.stem, sweep=sweep)


def set_dotted(data: dict[str, Any], key: str, value: Any, source: str = "<scenario>") -> None:
    """data['a']['b'] = value for key 'a.b', creating sections as needed."""
    *sections, last = key.split(".")
    node = data
    for s in sections:
        node = node.setdefault(s, {})
        if not isinstance(node, dict):
            raise InputError(source, key, f"{s!r} is not a section")
    node[last] = value
