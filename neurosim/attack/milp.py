from __future__ import annotations


def milp_supported(net, model):
    return "not yet"
