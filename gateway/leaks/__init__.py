"""The leak-report endpoint: GitHub's secret-scanning partner contract and GitLab's token
revocation API, as one ASGI app (:class:`gateway.leaks.app.LeakReports`).

Design notes: ``docs/architecture.md``.
"""

from gateway.leaks.app import LeakReports
from gateway.leaks.config import LeakConfig

__all__ = ["LeakConfig", "LeakReports"]
