"""The Tokens view (:mod:`.page`), one Flask-Admin view with collaborators: :mod:`.keys` (SDK
and publishable keys, rules), :mod:`.tokens` (tokens and secrets), :mod:`.limits` (rate
limits of all three), :mod:`.usage` (charts, a rule's impact), :mod:`.panels` (the page's
lists), :mod:`.listing` (their pages and filters); :mod:`.base` holds what they share.

Routes, below the view's URL (``/admin/tokens/``); every one but the page takes ``?ws=``:

| method | path                              | does                                           |
|--------|-----------------------------------|------------------------------------------------|
| GET    | ``/``                             | the page (``?ws=`` picks among the admin's)    |
| GET    | ``panel/<name>``                  | one list, as an HTML fragment (names below)    |
| GET    | ``api/catalog``                   | modules and functionalities the gateway knows  |
| POST   | ``api/otp``                       | mail a code: ``{action[, name]}`` (resend too) |
| POST   | ``api/sdk-key/reveal``            | ``{code}`` -> the SDK key                      |
| POST   | ``api/sdk-key/roll``              | ``{code, grace_seconds}`` -> the new SDK key   |
| POST   | ``api/publishable-key/rotate``    | revoke and regenerate -> the new key           |
| POST   | ``api/rules``                     | ``{module, functionality}`` blacklist a rule   |
| DELETE | ``api/rules/<module>/<functionality>`` | lift a rule                               |
| POST   | ``api/tokens``                    | ``{name, expires…, rules, limits, code}``: token |
| DELETE | ``api/tokens/<key_id>``           | revoke a token                                 |
| POST   | ``api/limits``                    | ``{key, scope, limits}``: one scope's limits   |
| DELETE | ``api/limits/<key>/<scope>``      | lift them                                      |
| POST   | ``api/secrets``                   | ``{name, value}`` add a secret                 |
| POST   | ``api/secrets/reveal``            | ``{name, code}`` -> the value                  |
| DELETE | ``api/secrets/<name>``            | delete a secret                                |
| GET    | ``api/usage``                     | ``?key=&range=``: a key's counts, for charts   |
| GET    | ``api/usage/impact``              | ``?module=&functionality=``: a rule's impact   |

Panels: ``tokens``, ``secrets``, ``rules``, ``audit``, ``pk-limits``, ``sk-limits``. Rate
limits name their ``key`` as ``publishable``, ``sdk`` or a token's key id, and their
``scope`` as ``*`` (the whole key) or a catalogued ``module.functionality``; ``limits`` is
text such as ``100/min, 10000/day``.

The page and ``panel/tokens``, ``panel/audit`` also take the long lists' page and filters
(``tq``, ``tstatus``, ``tpage``; ``aaction``, ``aactor``, ``abefore``: :mod:`.listing`).

Actions that hand out a credential or a secret (SDK key reveal and roll, token creation,
secret reveal) need a one-time password from ``api/otp`` for that action. Unsafe methods
need the CSRF token (``X-CSRFToken``); errors are RFC 9457 problem documents; every answer
is ``Cache-Control: no-store`` and refuses to be framed.
"""

from admin_plugin.views.page import TokensView

__all__ = ["TokensView"]
