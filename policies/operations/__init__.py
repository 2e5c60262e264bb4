"""Every store operation, written once as a generator of Redis calls.

:mod:`policies.storage.sync_store` (synchronous, for Flask and the CLI) and
:mod:`policies.storage.async_store` (asyncio, for the gateway) drive these through
:mod:`policies.storage.driver`; neither holds logic.
"""
