import pytest

from policies import InvalidKey, KeyKind, PolicyReader, PolicyStore, Rule
from policies.connect import async_client


@pytest.mark.anyio
async def test_lookup(store: PolicyStore, redis_url: str) -> None:
    created = store.create_workspace("Acme", actor="test")
    store.add_rule(created.workspace_id, Rule("billing", "*"), actor="t")
    reader = PolicyReader(async_client(redis_url), store.ctx.keyring)
    policy = await reader.lookup(created.publishable_key)
    assert policy.kind is KeyKind.PUBLISHABLE
    assert policy.blocks("billing", "read")
    assert not policy.blocks("projects", "list")
    sdk = await reader.lookup(created.sdk_key)
    assert not sdk.blocks("billing", "read")
    with pytest.raises(InvalidKey):
        await reader.lookup(created.publishable_key[:-1] + "x")
    await reader.client.aclose()
