"""Progress bars for the admin CLI's long operations: on a terminal only.

tqdm draws the bar on stderr. It is shown only when both stdout and stderr
are terminals (and the command was not asked for --json): piped or captured
output stays exactly the command's own text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from tqdm import tqdm


class Progress(Protocol):
    def update(self, n: int = 1) -> object: ...


class _Silent:
    def update(self, n: int = 1) -> object:
        return None


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress(what: str, *, total: int | None = None, quiet: bool = False) -> Iterator[Progress]:
    """A bar counting jobs for `what`; silent when piped or `quiet`."""
    if quiet or not on_terminal():
        yield _Silent()
        return
    with tqdm(total=total, desc=what, unit=" jobs", file=sys.stderr, leave=False) as bar:
        yield bar
