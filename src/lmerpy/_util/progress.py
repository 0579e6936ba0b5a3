"""Progress bars for long passes over data and long fits.

A bar is shown only when asked for, or (``progress=None``) when standard error is a terminal
and tqdm is installed (``pip install 'lmerpy[progress]'``); otherwise nothing is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from ..errors import MissingDependencyError

__all__ = ["Bar", "progress_bar"]


class Bar(Protocol):
    """What a pass reports progress to."""

    def update(self, n: int = 1) -> Any: ...


class _Silent:
    def update(self, n: int = 1) -> None:
        return None


def _wanted(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return sys.stderr.isatty()


@contextmanager
def progress_bar(
    progress: bool | None, *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[Bar]:
    """A tqdm bar (``progress`` True, or None on a terminal), else one that prints nothing."""
    if not _wanted(progress):
        yield _Silent()
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise MissingDependencyError(
            "progress bars need tqdm: pip install 'lmerpy[progress]'"
        ) from None
    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False) as bar:
        yield bar
