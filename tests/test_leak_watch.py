"""The leak watch itself: it must catch a key or code that reaches a log line or the audit."""

import logging

from policies import PolicyStore
from policies.keys import keyformat
from policies.otp import codes as otp
from tests.support.leaks import LeakWatch


def test_it_catches_a_logged_key_and_code(leak_watch: LeakWatch) -> None:
    key = keyformat.generate(keyformat.KeyKind.SDK, "ws_AbCdEfGh1234")
    code = otp.new_code()
    logging.getLogger("keystile.test").info("oops %s", key[3:])
    assert leak_watch.leaks(None) == ["sk_…"]
    logging.getLogger("keystile.test").info("code=%s", code)
    assert len(leak_watch.leaks(None)) == 2
    leak_watch.reset()  # so that this test itself passes the watch


def test_it_reads_the_audit(leak_watch: LeakWatch, store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="t")
    store.audit(created.workspace_id, "t", "oops", {"key": created.sdk_key})
    assert leak_watch.leaks(store.client) == ["sk_…"]
    store.client.flushall()
    leak_watch.reset()
