"""neurosim: feed-forward networks as distributed systems whose neurons and synapses fail.

The Python API behind the `neurosim` command. Installed as the distribution `neurosim-fep`
(the name `neurosim` on the package index is an unrelated project); imported as `neurosim`.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

from neurosim.attack.run import attack as run_attack
from neurosim.bounds.intervals import interval_bounds
from neurosim.bounds.paper import paper_fep
from neurosim.bounds.report import bound_report
from neurosim.bounds.weight_aware import given_set_bound, weight_aware_bound
from neurosim.data.bundled import copy_examples, example_files
from neurosim.data.counts import Failures, failure_counts
from neurosim.data.network import (
    Network,
    from_sklearn,
    load_network,
    make_network,
    random_network,
    save_network,
    to_graph,
)
from neurosim.data.scenario import Scenario, load_scenario
from neurosim.engines.des import simulate_des
from neurosim.engines.fast import simulate_fast
from neurosim.engines.plan import FiringRule, Planner, TrialPlan
from neurosim.errors import BoundViolation, InputError
from neurosim.front.plots import plot_results
from neurosim.runner import run_trials
from neurosim.setup import Setup, prepare
from neurosim.sweep import run_sweep

# The name on the package index; the version has one source, the package metadata (pyproject).
DISTRIBUTION = "neurosim-fep"
try:
    __version__ = _dist_version(DISTRIBUTION)
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "BoundViolation", "Failures", "FiringRule", "InputError", "Network", "Planner", "Scenario",
    "Setup", "TrialPlan", "bound_report", "copy_examples", "example_files", "failure_counts",
    "from_sklearn", "given_set_bound", "interval_bounds", "load_network", "load_scenario",
    "make_network", "paper_fep", "plot_results", "prepare", "random_network", "run_attack",
    "run_sweep", "run_trials", "save_network", "simulate_des", "simulate_fast", "to_graph",
    "weight_aware_bound",
]
