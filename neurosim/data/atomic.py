"""Result files written in one step: a temporary file in the same folder, then `os.replace`.

A run killed, or a disk that fills, while summary.json is written in place leaves half a
JSON file, which neither `neurosim plot` nor a script can read, and the previous run's
summary is lost. Written beside it and renamed (atomic within one file system), the file
is always either the previous one or the new one, whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO


@contextmanager
def replacing(path: str | Path, newline: str | None = None) -> Iterator[TextIO]:
    """A text file to write that becomes `path` when the block ends without an exception;
    on one, `path` is left as it was and the temporary file removed.

    The temporary file is `.NAME.PID-THREAD.tmp` in `path`'s folder (the same file system,
    so the rename is atomic; two processes or threads never share one), created with the
    usual permissions.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the data on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` in one step (`replacing`)."""
    with replacing(path) as handle:
        handle.write(text)
