"""Assembly: a Scenario plus the bounds' decisions (quorums) as one plain Setup.

Sits above the data layer (it needs the bounds to derive "auto" quorums).
`check` is every refusal of bad input that needs neither the quorum search
nor a simulation: `prepare` runs it first, and a sweep runs it on every grid
point before the first point runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from neurosim.data.build import build_failures, build_inputs, build_network
from neurosim.data.counts import Failures, per_layer
from neurosim.data.network import Network
from neurosim.data.scenario import Scenario
from neurosim.data.training import train_network
from neurosim.engines import memory
from neurosim.engines.memory import (
    DRAWN_BYTES_PER_SYNAPSE,
    drawn_synapses,
    summary_bytes,
    trial_bytes,
)
from neurosim.engines.plan import latency_model, load_pinned
from neurosim.errors import InputError

Array = np.ndarray


@dataclass(frozen=True)
class Setup:
    """Everything a run needs, as plain data.

    inputs: (n, N_0) evaluation inputs; trial i uses inputs[i % n].
    labels: (n,) int class labels, or None.
    failures: the failure counts the bounds assume (docs/model.md).
    quorum: signals needed per receiving layer 1..L+1, or None (no quorum).
    quorum_plan: with quorum = "auto", how it was chosen (QuorumPlan.as_dict():
    skipped, bound, budget, certify, allocation, certified).
    """

    scenario: Scenario
    net: Network
    inputs: Array
    labels: Array | None
    failures: Failures
    quorum: list[int] | None
    quorum_plan: dict | None = None
    training: dict | None = None
    tolerated_crashes: list[int] | None = None


@dataclass(frozen=True)
class Checked:
    """What `check` built on the way: the scenario with crash = "tolerated" resolved,
    the network, inputs (n, N_0) and labels, the failure counts (with a fixed quorum's
    skipped signals counted) and the fixed quorum per layer 1..L+1 (None with no
    quorum or with quorum = "auto", which only the search decides)."""

    scenario: Scenario
    net: Network
    inputs: Array
    labels: Array | None
    failures: Failures
    quorum: list[int] | None
    tolerated_crashes: list[int] | None


def _network_and_inputs(scn: Scenario, train: bool) -> tuple[Network, Array, Array | None]:
    net = build_network(scn, train)
    inputs, labels = build_inputs(scn, net)
    with np.errstate(all="ignore"):
        finite = np.isfinite(net.forward(inputs)).all(axis=1)
    if not finite.all():
        raise InputError(scn.source, "network",
                         f"the fault-free outputs are not finite for input row "
                         f"{int(np.argmin(finite))} (float64 overflow): the network cannot be "
                         "simulated in float64")
    return net, inputs, labels


def check(scn: Scenario, built: dict[str, tuple] | None = None,
          train: bool = True) -> Checked:
    """Every check of a scenario against its network that needs neither the quorum
    search nor a simulation: the network, inputs and files can be read, the
    fault-free outputs are finite, failure counts, fixed quorums and list lengths
    fit the layers, the latency model and pinned failures are valid.

    Raises InputError naming the key. built: a cache (shared between the points of
    a sweep) of the network and inputs per [network] and [inputs] section, so
    that points differing only elsewhere build and check them once. train=False:
    a network still to be trained ([network] train) is not, and only its shape is
    checked (its fault-free outputs are checked when its point runs).
    """
    d = scn.to_dict()
    key = json.dumps([scn.base_dir, scn.seed, scn.trials, d["network"], d.get("inputs")],
                     sort_keys=True)
    if built is not None and key in built:
        net, inputs, labels = built[key]
    else:
        net, inputs, labels = _network_and_inputs(scn, train)
        if built is not None:
            built[key] = net, inputs, labels
    scn, tolerated = resolve_tolerated(scn, net)
    failures = build_failures(scn, net)  # checks the counts before a quorum is derived
    C = scn.failures.capacity
    if scn.failures.byzantine_mode == "random" and not C < 2.0 ** 1023:
        raise InputError(scn.source, "failures.capacity",
                         f"byzantine_mode = 'random' draws Byzantine values in [-C, C], "
                         f"whose width 2C must be a float64: C below 2**1023 "
                         f"(8.98e307), got {C:g}")
    _check_trial_memory(scn, net)
    latency_model(scn)  # a bad delay file is refused here, whether or not a quorum needs it
    if scn.failures.pinned:
        load_pinned(scn, net)
    quorum = fixed_quorum(scn, net)
    if quorum is not None:
        failures = with_skipped(scn, net, quorum)
    return Checked(scn, net, inputs, labels, failures, quorum, tolerated)


def _check_trial_memory(scn: Scenario, net: Network) -> None:
    """Refuse a scenario of which one trial alone needs more than MAX_TRIAL_BYTES (the
    estimate the runner sizes its blocks with): it would run out of memory in its first
    trial, or push the machine into swap, after the setup's work; and one whose trials'
    summary needs more than MAX_SUMMARY_BYTES (trials = 2**63 - 1 of corner inputs
    was accepted, and would have grown its summary until the memory ran out)."""
    kept = summary_bytes(scn.trials, net)
    if kept > memory.MAX_SUMMARY_BYTES:
        raise InputError(scn.source, "trials",
                         f"{scn.trials} trials: their summary keeps an error and "
                         f"{net.depth + 2} latencies of each, about {kept / 2**30:.3g} GiB, "
                         f"more than {memory.MAX_SUMMARY_BYTES / 2**30:g} GiB (split the "
                         "run: several seeds, or a [sweep] over seed)")
    need, drawn = trial_bytes(scn, net), drawn_synapses(scn, net)
    if need <= memory.MAX_TRIAL_BYTES:
        return
    spec = scn.network
    key = "network.file" if spec.file else "network.sizes" if spec.sizes else "network.train"
    if drawn and need - DRAWN_BYTES_PER_SYNAPSE * drawn <= memory.MAX_TRIAL_BYTES:
        key = "failures.precision" if any(per_layer(scn.failures.precision, net.depth + 1,
                                                    "precision")) else "failures.byzantine_mode"
    raise InputError(scn.source, key,
                     f"one trial of this {net.n_weights}-synapse network needs about "
                     f"{need / 2**30:.3g} GiB"
                     + (f" ({drawn} synapses with a weight or value drawn per trial)"
                        if drawn else "")
                     + f", more than {memory.MAX_TRIAL_BYTES / 2**30:g} GiB")


def with_skipped(scn: Scenario, net: Network, quorum: list[int]) -> Failures:
    """The failure counts with the signals a quorum does not wait for counted as
    missing: the bounds must cover them."""
    return build_failures(scn, net, [n - k for n, k in zip(net.sizes, quorum)])


def fixed_quorum(scn: Scenario, net: Network) -> list[int] | None:
    """Signals needed per receiving layer 1..L+1 (checked against N_{l-1}) when the
    rule has a quorum given as numbers; None without a quorum or with quorum = "auto"
    (refused here with a timeout rule, which no certificate covers)."""
    q, sizes, L = scn.firing.quorum, net.sizes, net.depth
    if "quorum" not in scn.firing.rule:
        return None
    if q == "auto":
        if "timeout" in scn.firing.rule:
            # A timeout lets a receiver fire on fewer signals than its quorum, so a
            # certificate for the quorum's skips would not cover what the engine does.
            raise InputError(scn.source, "firing.rule",
                             f'"{scn.firing.rule}" with quorum = "auto": a timeout can fire '
                             "on fewer signals than the certified quorum, so no error "
                             'budget can be certified; use rule = "quorum"')
        return None
    try:
        quorum = per_layer(q, L + 1, "quorum")
    except ValueError:
        raise InputError(scn.source, "firing.quorum",
                         f"expected one value or {L + 1} (one per layer 1..{L + 1})") from None
    for l, k in enumerate(quorum, start=1):
        if k > sizes[l - 1]:
            raise InputError(scn.source, "firing.quorum",
                             f"{k} for layer {l} but it has only {sizes[l - 1]} senders")
    return quorum


def search_quorum(scn: Scenario, net: Network) -> tuple[list[int], dict]:
    """quorum = "auto": the quorum the search certifies, and the plan that chose it."""
    from neurosim.quorum import auto_quorum

    try:
        plan = auto_quorum(net, scn)
    except InputError:
        raise  # it already names its key (latency.file, ...)
    except ValueError as err:
        raise InputError(scn.source, "firing.quorum", str(err)) from None
    return plan.quorum, plan.as_dict()


def prepare(scn: Scenario) -> Setup:
    """Build the network, inputs, failure counts and quorums of a scenario."""
    c = check(scn)
    scn, quorum, failures, plan = c.scenario, c.quorum, c.failures, None
    if "quorum" in scn.firing.rule and scn.firing.quorum == "auto":
        quorum, plan = search_quorum(scn, c.net)
        failures = with_skipped(scn, c.net, quorum)
    # The record of the fit build_network made (cached: not trained twice).
    training = train_network(scn.network.train)[1].as_dict() \
        if scn.network.train is not None else None
    return Setup(scn, c.net, c.inputs, c.labels, failures, quorum, plan, training,
                 c.tolerated_crashes)


def resolve_tolerated(scn: Scenario, net: Network) -> tuple[Scenario, list[int] | None]:
    """The scenario with crash = "tolerated" replaced by its counts, and those counts.

    Per hidden layer, the largest crash count whose weight-aware bound fits
    [firing] epsilon with the scenario's other failures but no other missing
    signal (`neurosim.bounds.report.largest_tolerated`), one layer at a time:
    with several hidden layers, crashing all of them at once may exceed epsilon.
    """
    if scn.failures.crash != "tolerated":
        return scn, None
    if scn.firing.epsilon is None:
        raise InputError(scn.source, "failures.crash",
                         'crash = "tolerated" needs [firing] epsilon (the tolerated error)')
    from dataclasses import replace

    from neurosim.bounds.linear_intervals import network_intervals
    from neurosim.bounds.report import largest_tolerated
    from neurosim.bounds.weight_aware import weight_aware_bound

    def with_crash(crash) -> Scenario:
        return scn.model_copy(update={"failures": scn.failures.model_copy(
            update={"crash": crash})})

    base = build_failures(with_crash(0), net)
    base = replace(base, missing=(0,) * len(base.missing))
    iv = network_intervals(net)
    counts = largest_tolerated(net, scn.firing.epsilon,
                               lambda f: weight_aware_bound(net, f, intervals=iv), base)
    return with_crash(counts), counts
