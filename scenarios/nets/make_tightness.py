"""Make tightness.npz: the network of the paper's tightness claim, on which its Fep is attained.

Identity activations, every weight equal to +w_m, no biases: with inputs at the
top corner of [0, 1]^N_0 every neuron of a layer carries the same, largest
value, so crashing any f_l of them moves the output by exactly Fep.

    python scenarios/nets/make_tightness.py
"""

from pathlib import Path

import numpy as np

from neurosim.data.network import make_network, save_network

SIZES = [6, 8, 7, 5, 1]
W_MAX = 0.5

if __name__ == "__main__":
    weights = [np.full((n, m), W_MAX) for m, n in zip(SIZES, SIZES[1:])]
    net = make_network(weights, None, "identity", 0.0, 1.0)
    out = Path(__file__).with_name("tightness.npz")
    save_network(net, out)
    print(f"wrote {out}")
