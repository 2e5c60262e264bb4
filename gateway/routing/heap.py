"""The cycle collector kept off a catalog build: the build runs no collection pass at all.

A catalog build allocates hundreds of thousands of objects in a worker thread. Each
allocation counts towards CPython's collections, and a collection runs on whichever thread
allocates while holding the GIL: a full one scans every tracked object of the process (the
app's and the last catalog's too) and stalls the event loop for its whole length (36-105 ms
each at 20,000 routes, several per build). While a build runs no collection starts; at
its end every object, the build's too, is handed to the oldest generation unscanned
(``gc.freeze`` then ``gc.unfreeze``): the next full collection, which the process runs
anyway, looks at them (and frees whatever garbage any thread made meanwhile). A process
that froze objects itself (a pre-fork server's ``gc.freeze()``) or turned the collector off
is left as it is. Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Process-wide switches: two builds at once would turn them back under each other.
_ONE_BUILD = threading.Lock()


@contextmanager
def collector_held() -> Iterator[None]:
    """Run the block with no collection; what it made goes to the oldest generation."""
    with _ONE_BUILD:
        if gc.get_freeze_count() or not gc.isenabled():  # the process's own choice: kept
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()  # every generation's objects, moved at once (no scan)
            gc.unfreeze()  # into the oldest generation, its young counts reset
            gc.enable()
