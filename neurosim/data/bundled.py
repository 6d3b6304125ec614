"""The bundled examples: scenarios and the networks they read, copied out of the package.

They are the package `neurosim.examples` (the repository's scenarios/ folder, mapped into the
package at build time), so an installed wheel has them as well as a clone does. They are
copied with their folder layout, so that a scenario's relative `[network] file =
"nets/digits.npz"` still resolves next to the copied scenario.
"""

from __future__ import annotations

from fnmatch import fnmatch
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from neurosim.errors import InputError

# What an example is: the scenarios, their networks, and the scripts that made the networks
# (so a user can remake or vary them). Everything else in the package folder (its
# __init__.py, caches) is not copied.
PATTERNS = ("*.toml", "nets/*.npz", "nets/make_*.py")


def example_files() -> dict[str, Traversable]:
    """The bundled example files by relative POSIX path ("crash-vs-bound.toml",
    "nets/digits.npz", ...), sorted by path."""
    root = files("neurosim.examples")
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            rel = prefix + item.name
            if item.is_dir():
                if not item.name.startswith(("_", ".")):  # __pycache__ and the like
                    walk(item, rel + "/")
            elif any(fnmatch(rel, p) and rel.count("/") == p.count("/") for p in PATTERNS):
                # (a pattern's * stays within its folder: not nets/large/net.npz, which
                # scenarios/nets/make_large.py writes and which is not an example)
                found[rel] = item

    walk(root, "")
    return dict(sorted(found.items()))


def copy_examples(dest: Path, force: bool = False) -> list[Path]:
    """Copy every bundled example into folder `dest` (created if needed); the written paths.

    A `dest` that exists and is not empty is refused unless `force`, which then overwrites
    the example files of the same names and leaves other files alone.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(str(dest), None, "exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InputError(str(dest), None, "folder exists and is not empty (--force copies "
                         "the examples into it anyway, overwriting files of the same names)")
    sources = example_files()
    if not sources:  # a build that lost its package data: say so rather than copy nothing
        raise InputError("neurosim.examples", None, "no bundled examples in this "
                         "installation (the package was built without its data files)")
    written = []
    for rel, src in sources.items():
        target = dest.joinpath(*rel.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
        except OSError as err:  # no permission, a read-only place, a file in the way
            raise InputError(str(dest), None, f"cannot write {target} "
                             f"({err.strerror or err})") from None
        written.append(target)
    return written
