"""What a lookup hands the engine: ``Lookup``, the entry selected for a request and the
policy's decision about it (a context manager owning the entry), and ``Held``, an entry
already at hand used where a lookup would be."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import policy
from ._body import Entry
from .models import StoredResponse

__all__ = ["Held", "Lookup"]


@dataclass(frozen=True)
class Lookup:
    """The entry selected for a request (if any) and the policy's decision about it.

    A context manager, the owner of the entry: a body read from the store in pieces stays
    open until it exits, unless it was handed to a stream (which then closes it)."""

    entry: Optional[Entry]
    decision: policy.Decision
    #: responses are stored for the URL, but none for this request's Vary values or
    #: credentials (RFC 9111 §4.1; RFC 9211 §2.2 ``fwd=vary-miss``)
    vary_miss: bool = False

    @property
    def stored(self) -> Optional[StoredResponse]:
        """The entry's head: the stored response the decision is about."""
        return None if self.entry is None else self.entry.head

    def __enter__(self) -> Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self.entry is not None:
            self.entry.close()


class Held:
    """An entry already at hand, used where a lookup would be (its body is in memory: there
    is nothing to close)."""

    def __init__(self, entry: Entry) -> None:
        self.entry: Optional[Entry] = entry
        self.stored: Optional[StoredResponse] = entry.head

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
