"""The Tokens view (:mod:`.page`), one Flask-Admin view with collaborators: :mod:`.keys` (SDK
and publishable keys, rules), :mod:`.tokens` (tokens and secrets), :mod:`.limits` (rate
limits of all three), :mod:`.usage` (charts, a rule's impact), :mod:`.panels` (the page's
lists), :mod:`.listing` (their pages and filters), :mod:`.index` (the page's context),
:mod:`.access` (who may use the page); :mod:`.base` holds what they share.

Design notes: ``docs/architecture.md``.
"""

from admin_plugin.views.page import TokensView

__all__ = ["TokensView"]
