"""Strict JSON for result files and --json output: never a NaN or Infinity token.

Python's json writes NaN and inf as the bare tokens NaN / Infinity, which are
not JSON: most parsers (JavaScript's JSON.parse, jq, Go, Rust) refuse the
file. So every float is written as a JSON number when finite, else

- NaN (an undefined value: no trial, an overflowed error) as null;
- +inf / -inf (a bound that overflows is +inf: sound, but it says nothing) as
  the strings "Infinity" / "-Infinity", which Python's float() and
  JavaScript's Number() both read back.

`dumps` passes allow_nan=False to json.dumps, so a non-finite float that
slipped through is an error here, not a bad file. `loads` reads the strings
back as floats.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

INFINITY = {math.inf: "Infinity", -math.inf: "-Infinity"}


def strict(obj: Any) -> Any:
    """`obj` with every non-finite float replaced (recursively through dicts,
    lists, tuples, numpy scalars and arrays)."""
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return None
        return INFINITY.get(x, x)
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps of `strict(obj)`; raises ValueError rather than write NaN or Infinity."""
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def _numbers(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    if obj == "Infinity":
        return math.inf
    if obj == "-Infinity":
        return -math.inf
    return obj


def loads(text: str) -> Any:
    """Parse strict JSON written by `dumps`; "Infinity" / "-Infinity" become floats."""
    return _numbers(json.loads(text))


def number(value: Any) -> float:
    """A value of a result file as a float: null (or "") is NaN."""
    if value is None or value == "":
        return math.nan
    return float(value)
