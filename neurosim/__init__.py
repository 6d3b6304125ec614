"""neurosim: feed-forward networks as distributed systems whose neurons and synapses fail.

The Python API behind the `neurosim` command (docs/index.md). Installed as the distribution
`neurosim-fep` (the name `neurosim` on the package index is an unrelated project); imported
as `neurosim`. Every public name is imported on first use (module-level ``__getattr__``), so
importing one part (``neurosim.bounds.paper``, ``neurosim.runner``) does not pull in SimPy,
networkx or matplotlib.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any

# The name on the package index; the version has one source, the package metadata (pyproject).
DISTRIBUTION = "neurosim-fep"
try:
    __version__ = _dist_version(DISTRIBUTION)
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

# public name -> the module that defines it ("module:name" where the name differs)
_LAZY = {
    "run_attack": "neurosim.attack.run:attack",
    "interval_bounds": "neurosim.bounds.intervals",
    "network_intervals": "neurosim.bounds.linear_intervals",
    "paper_fep": "neurosim.bounds.paper",
    "bound_report": "neurosim.bounds.report",
    "given_set_bound": "neurosim.bounds.weight_aware",
    "weight_aware_bound": "neurosim.bounds.weight_aware",
    "copy_examples": "neurosim.data.bundled",
    "example_files": "neurosim.data.bundled",
    "Failures": "neurosim.data.counts",
    "failure_counts": "neurosim.data.counts",
    "Network": "neurosim.data.network",
    "from_sklearn": "neurosim.data.network",
    "load_network": "neurosim.data.network",
    "make_network": "neurosim.data.network",
    "random_network": "neurosim.data.network",
    "save_network": "neurosim.data.network",
    "to_graph": "neurosim.data.network",
    "Scenario": "neurosim.data.scenario",
    "load_scenario": "neurosim.data.scenario",
    "simulate_des": "neurosim.engines.des",
    "simulate_fast": "neurosim.engines.fast",
    "FiringRule": "neurosim.engines.plan",
    "Planner": "neurosim.engines.plan",
    "TrialPlan": "neurosim.engines.plan",
    "BoundViolation": "neurosim.errors",
    "InputError": "neurosim.errors",
    "plot_results": "neurosim.front.plots",
    "run_trials": "neurosim.runner",
    "Setup": "neurosim.setup",
    "prepare": "neurosim.setup",
    "run_sweep": "neurosim.sweep",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurosim' has no attribute {name!r}")
    module, _, attr = module.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
