"""The cycle collector kept off a catalog build and off the objects that lived before it.

A catalog build allocates hundreds of thousands of objects in a worker thread. Each
allocation counts towards CPython's collections, and a collection runs on whichever thread
allocates while holding the GIL: a full one scans every tracked object of the process (the
app's and the last catalog's too) and stalls the event loop for its whole length (36-105 ms
each at 20,000 routes, several per build). While a build runs, the objects that lived
before it are frozen (``gc.freeze``) and no collection starts; at its end one collection
scans what the build left (and whatever other threads made meanwhile), then the older
objects are given back to the collector (``gc.unfreeze``): nothing is kept from it. A
process that froze objects itself (a pre-fork server's ``gc.freeze()``) or turned the
collector off is left as it is. Design notes: ``docs/architecture.md``.
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
    """Run the block with no collection, then collect once what it made (see above)."""
    with _ONE_BUILD:
        if gc.get_freeze_count() or not gc.isenabled():  # the process's own choice: kept
            yield
            return
        gc.freeze()
        gc.disable()
        try:
            yield
        finally:
            gc.collect()  # only what is not frozen: the build's objects and their garbage
            gc.enable()
            gc.unfreeze()
