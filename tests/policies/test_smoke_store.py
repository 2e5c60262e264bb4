from policies import PolicyStore, Rule


def test_create_rotate_rules(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="test")
    assert store.publishable_key(created.workspace_id) == created.publishable_key
    assert store.add_rule(created.workspace_id, Rule("billing", "read"), actor="t")
    assert not store.add_rule(created.workspace_id, Rule("billing", "read"), actor="t")
    new = store.rotate_publishable_key(created.workspace_id, actor="t")
    assert new != created.publishable_key
    assert store.list_rules(created.workspace_id) == [Rule("billing", "read")]
