"""Every store operation, written once as a generator of Redis calls.

:mod:`policies.store` (synchronous, for Flask and the CLI) and :mod:`policies.async_store`
(asyncio, for the gateway) drive these through :mod:`policies.calls`; neither holds logic.
"""
