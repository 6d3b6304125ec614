"""How much memory a trial's arrays take while the vectorised engine simulates it, and
what the summary keeps of every trial.

The runner sizes its blocks from this estimate, and `neurosim.setup` refuses a
scenario of which one trial alone would not fit (MAX_TRIAL_BYTES), or whose
trials' summary would not (MAX_SUMMARY_BYTES).
"""

from __future__ import annotations

from neurosim.data.counts import per_layer
from neurosim.data.network import Network
from neurosim.data.scenario import Scenario

# Bytes per synapse and trial counted for a simulated chunk. The compiled pass needs
# about 10 (the delays, 8; the used mask and the kinds, a view of it, 1); 40 keeps the
# chunks small, which ran fastest (784-256-128-10, bounds in blocks of 32: chunks of
# 4-7 trials at 3.50-3.53 ms a trial, of 16 at 3.75) and leaves room for the copies a
# lost message or a Byzantine value adds.
BYTES_PER_SYNAPSE = 40
# A synapse whose stored weight or Byzantine value each trial draws (`drawn_synapses`)
# adds a float64 to the block's plan, and two to a joined block (its chunks' and the
# joined copy, both alive while they are joined). Without it a run with precision
# eta > 0 took 3x the memory the block sizes were chosen for (784-256-128-10: 189 MiB
# traced at a 64 MiB budget, against 78 at eta = 0).
DRAWN_BYTES_PER_SYNAPSE = 16
# The most one trial may need: a larger scenario is refused before anything runs.
MAX_TRIAL_BYTES = 2**32
# The most the summary may keep of the trials (its error, latency and per-layer latencies
# of every trial, float64, held twice while they are joined at the end).
MAX_SUMMARY_BYTES = 2**32


def drawn_synapses(scn: Scenario, net: Network) -> int:
    """How many synapses a trial draws a float64 of its own for, beyond its delay: the
    stored weight of every layer with precision eta > 0 (W +- eta), and every value a
    Byzantine sender or synapse may deliver with byzantine_mode = "random". Each is a
    (N_l, N_{l-1}) array per trial that a block stacks and a joined block keeps."""
    sizes = [W.size for W in net.weights]
    eta = per_layer(scn.failures.precision, net.depth + 1, "precision")
    drawn = sum(n for n, e in zip(sizes, eta, strict=True) if e)
    if scn.failures.byzantine_mode == "random":
        drawn += sum(sizes)
    return drawn


def trial_bytes(scn: Scenario | None, net: Network) -> int:
    """The memory one trial takes while it is simulated, in bytes (scn None: nothing
    drawn beyond the delays)."""
    drawn = 0 if scn is None else drawn_synapses(scn, net)
    return BYTES_PER_SYNAPSE * net.n_weights + DRAWN_BYTES_PER_SYNAPSE * drawn \
        + 64 * sum(net.sizes)


def summary_bytes(trials: int, net: Network) -> int:
    """The memory the summary takes for `trials` trials, in bytes: a float64 error,
    latency and per-layer latency (L+1 layers) of each, twice at the end (joined)."""
    return 2 * 8 * (net.depth + 3) * trials
