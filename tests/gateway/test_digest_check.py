"""A gateway started with another digest secret refuses to start, with a clear message,
instead of answering 401 invalid_key to every key (issue 17.5)."""

from __future__ import annotations

import pytest

from policies import ConfigError, PolicyStore, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.gateway import Factory


@pytest.mark.anyio
async def test_another_digest_secret_stops_start_up(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, settings: Settings
) -> None:
    store.deployment.check_digest_secret()  # the CLI or admin stamped it
    changed = Settings(settings.redis_url, settings.master_keys, "d" * 48)
    gate = make_gate(settings=changed)
    with pytest.raises(ConfigError, match="not the secret this Redis was set up with"):
        await gate.start()
    same = make_gate()  # the right secret starts as before
    await same.start()
    assert await same.invalidation.wait_subscribed(10)
    await same.stop()
