"""Importing one part of neurosim loads only what that part needs.

Each check runs in a fresh interpreter, since this test process has long
imported everything.
"""

import subprocess
import sys

import pytest

HEAVY = ("simpy", "matplotlib", "networkx", "sklearn", "dask", "pydantic")


def loaded_after(statement: str) -> set[str]:
    """The heavy top-level packages in sys.modules after running `statement`."""
    code = f"{statement}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_bounds_load_without_simpy_or_matplotlib():
    loaded = loaded_after("import neurosim.bounds.paper")
    assert not loaded & {"simpy", "matplotlib", "networkx"}, loaded


def test_the_runner_loads_without_matplotlib():
    loaded = loaded_after("import neurosim.runner")
    assert "matplotlib" not in loaded and "networkx" not in loaded, loaded
    assert "simpy" in loaded  # the check sees imports: the runner does use the SimPy engine


def test_the_command_line_parser_loads_nothing_heavy():
    assert loaded_after("import neurosim.front.cli") == set()


def test_every_public_name_resolves_on_first_use():
    import neurosim

    assert {"paper_fep", "run_trials", "to_graph", "plot_results", "run_attack"} <= \
        set(neurosim.__all__)
    for name in neurosim.__all__:
        assert callable(getattr(neurosim, name)), name


def test_an_unknown_name_is_an_attribute_error():
    import neurosim

    with pytest.raises(AttributeError):
        neurosim.no_such_thing  # noqa: B018
