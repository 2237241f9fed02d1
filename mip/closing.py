"""The one ``with`` protocol of the objects that hold a file or a thread: leaving closes them."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """Base of an object a ``with`` block closes on the way out, whether or not it raised.

    A subclass defines :meth:`close` (and may override ``__enter__`` to start something, returning
    ``self``). A writer's ``close`` discards what it did not commit.
    """

    def close(self) -> None:
        """Release what the object holds; safe to call more than once."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
