"""The store's catalog on the gateway's side: loaded when first needed, recompiled into a
:class:`~gateway.routing.router.Router` whenever its fingerprint changes.

A part of :class:`gateway.runtime.runtime.Runtime` (which owns the attributes declared below and
decides *when* to reload: on the catalog's event, on every subscription, periodically). A
catalog given in code (``catalog=``) is never reloaded. A broken stored catalog never
replaces a good one: the gateway keeps deciding with the last good router (an empty one
if it never had any), and says so once per stored catalog, not once per event.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.routing.exempt import ExemptConflict, check
from gateway.routing.router import Router
from policies.catalog.catalog import Catalog
from policies.errors import CatalogError, StoreUnavailable
from policies.storage.async_store import AsyncPolicyStore


class CatalogLoading:
    # Owned by Runtime; declared here for the type checker.
    reader: AsyncPolicyStore | None
    router: Router | None
    catalog_fingerprint: str | None
    fixed_catalog: bool
    config: GatewayConfig
    refused: Exception | None  # why the stored catalog was refused, if it was
    metrics: GatewayMetrics
    logger: logging.Logger
    _catalog_lock: asyncio.Lock | None
    _catalog_due: bool  # a reload failed: the ticker retries at its next success

    def compile(self, catalog: Catalog | None) -> Router:
        """The router of ``catalog``; CatalogError if it does not compile here,
        ExemptConflict if an exempt path covers one of its catalogued routes."""
        router = Router(catalog)
        if catalog is not None and not self.config.exempt_catalogued:
            check(self.config.exempt_paths, catalog, router)
        return router

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
        if self.router is None and self._catalog_lock is not None:
            async with self._catalog_lock:
                if self.router is None:
                    await self.reload_catalog()
        return self.router

    async def refresh_catalog(self) -> None:
        """Reload if the store answers, else leave it due: never raises StoreUnavailable.

        For a (re)subscription: a catalog out of reach is no reason to drop a working
        subscription (on a cluster it may live on another, unreachable node).
        """
        try:
            await self.reload_catalog()
        except StoreUnavailable:
            self._catalog_due = True

    async def reload_catalog(self) -> None:
        """Load the store's catalog and recompile the router if it changed."""
        reader = self.reader
        if self.fixed_catalog or reader is None:
            return
        try:
            with self.metrics.store_call("catalog"):
                catalog = await reader.load_catalog()
            fingerprint = None if catalog is None else catalog.fingerprint()
            if self.router is not None and fingerprint == self.catalog_fingerprint:
                return
            router = self.compile(catalog)
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
        self.catalog_fingerprint = fingerprint
        self.logger.info(
            "catalog %s compiled (%d actions)",
            fingerprint,
            len(self.router.actions),
            extra={"event": "gateway.catalog", "fingerprint": fingerprint},
        )
