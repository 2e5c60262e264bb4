"""The store's catalog on the gateway's side: loaded when first needed, recompiled into a
:class:`~gateway.routing.router.Router` whenever its fingerprint changes.

Held by :class:`gateway.runtime.runtime.Runtime`, which decides *when* to reload. A catalog
given in code (``catalog=``) is never reloaded; a broken stored catalog never replaces a
good one (the last good router keeps deciding, and the refusal is logged once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.routing.exempt import ExemptConflict, check
from gateway.routing.heap import collector_held
from gateway.routing.router import Router
from policies.catalog.catalog import Catalog
from policies.errors import CatalogError, StoreUnavailable
from policies.storage.async_store import AsyncPolicyStore


class CatalogLoader:
    """The router the request path reads (:attr:`router`), kept in step with the catalog."""

    def __init__(
        self,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        logger: logging.Logger,
        catalog: Catalog | None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.logger = logger
        self.fixed = catalog is not None
        self.reader: AsyncPolicyStore | None = None  # set by the runtime once started
        self.refused: Exception | None = None  # why the stored catalog was refused, if it was
        # What else a catalog must pass here (the authz service's upstream): CatalogError.
        self.check: Callable[[Catalog], None] | None = None
        self.router: Router | None = None if catalog is None else self.compile(catalog)
        self.fingerprint = catalog.fingerprint() if catalog is not None else None
        self._text: str | None = None  # the stored catalog's JSON the router was built from
        self.lock: asyncio.Lock | None = None  # the running loop's, set by the runtime
        self.due = False  # a reload failed: the scheduler retries at its next success

    def compile(self, catalog: Catalog | None) -> Router:
        """The router of ``catalog``; CatalogError if it does not compile here,
        ExemptConflict if an exempt path covers one of its catalogued routes. Each route is
        compiled when a request first needs it (the catalog's checks refuse every template
        that would not compile)."""
        router = Router(catalog, compile_now=False)
        if catalog is not None and self.check is not None:
            self.check(catalog)
        if catalog is not None and not self.config.exempt_catalogued:
            check(self.config.exempt_paths, catalog, router)
        return router

    def _build(self, text: str | None) -> tuple[Catalog | None, Router, str | None]:
        """Parse, fingerprint and compile (in a worker thread: see
        :mod:`gateway.routing.heap`)."""
        with collector_held():
            catalog = None if text is None else Catalog.from_json(text)
            fingerprint = None if catalog is None else catalog.fingerprint()
            return catalog, self.compile(catalog), fingerprint

    async def load_router(self) -> tuple[Router | None, bool]:
        """For a request: the router, or None and whether a defect (not an outage) is why.
        A defect is logged once with its traceback and counted."""
        try:
            return await self.ensure_router(), False
        except StoreUnavailable:
            return None, False
        except Exception:
            self.metrics.internal_errors.labels("catalog").inc()
            self.logger.exception(
                "internal error loading the catalog",
                extra={"event": "gateway.internal_error", "operation": "catalog"},
            )
            return None, True

    async def ensure_router(self) -> Router | None:
        """The router, loading the store's catalog first if there is none yet."""
        if self.router is None and self.lock is not None:
            async with self.lock:
                if self.router is None:
                    await self.reload()
        return self.router

    async def refresh(self) -> None:
        """Reload if the store answers, else leave it due: never raises StoreUnavailable.

        For a (re)subscription: a catalog out of reach is no reason to drop a working
        subscription (on a cluster it may live on another, unreachable node).
        """
        try:
            await self.reload()
        except StoreUnavailable:
            self.due = True

    async def reload(self) -> None:
        """Load the store's catalog and recompile the router if it changed."""
        reader = self.reader
        if self.fixed or reader is None:
            return
        try:
            with self.metrics.store_call("catalog"):
                text = await reader.load_catalog_text()
            if self.router is not None and text == self._text:
                return
            # Parsed off the loop (20,000 routes: ~0.4 s), no route compiled yet.
            catalog, router, fingerprint = await asyncio.to_thread(self._build, text)
            self._text = text
            if self.router is not None and fingerprint == self.fingerprint:
                return
        except (CatalogError, ExemptConflict) as exc:
            # Someone stored a catalog this gateway cannot use: keep the last good one, and
            # say so once, not at every event or tick that brings the same catalog back.
            if self.refused is None or str(self.refused) != str(exc):
                self.logger.error(
                    "stored catalog is unusable, keeping the current one: %s",
                    exc,
                    extra={"event": "gateway.catalog_refused"},
                )
            self.refused = exc
            if self.router is None:
                self.router = Router()
            return
        if catalog is None:
            self.logger.warning(
                "no catalog in the store (run `keystile catalog load FILE`): every request is "
                "outside the catalog until one is saved",
                extra={"event": "gateway.no_catalog"},
            )
        self.router, self.refused = router, None
        self.fingerprint = fingerprint
        self.logger.info(
            "catalog %s compiled (%d actions)",
            fingerprint,
            len(self.router.action_names),
            extra={"event": "gateway.catalog", "fingerprint": fingerprint},
        )
