"""``keystile notify``: the operator's endpoint, addresses, test, status and worker."""

from __future__ import annotations

from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.cli import cli as run_cli
from tests.support.webhooks import Receiver


def test_endpoint_test_status_and_one_worker_pass(
    env: dict[str, str], store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    ws = workspace.workspace_id
    refused = run_cli(env, "notify", "endpoint", ws, receiver.url)
    assert refused.exit_code == 1 and "https" in refused.output  # http to a host not allowed
    env = {**env, "KEYSTILE_NOTIFY_ALLOW_HOSTS": "127.0.0.1"}
    done = run_cli(env, "notify", "endpoint", ws, receiver.url)
    assert done.exit_code == 0, done.output
    receiver.secret = done.output.split("(shown once): ")[1].strip()
    tested = run_cli(env, "notify", "test", ws)
    assert tested.exit_code == 0 and "delivered (HTTP 200)" in tested.output
    assert receiver.types(receiver.take(1)) == ["webhook.test"]
    store.create_token(ws, "ci", actor="test")
    ran = run_cli(env, "notify", "run", "--once")
    assert ran.exit_code == 0 and "1 deliveries tried" in ran.output
    assert receiver.types(receiver.take(1)) == ["token.created"]
    status = run_cli(env, "notify", "status", ws)
    assert "webhook: 1 delivered, last ok" in status.output
    receiver.stop()
    failed = run_cli(env, "notify", "test", ws)
    assert failed.exit_code == 1 and "connection refused" in failed.output
    assert "Traceback" not in failed.output


def test_bad_input_is_one_line_and_exit_1(env: dict[str, str], workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    for args in (
        ("endpoint", ws, "https://10.0.0.1/h"),
        ("endpoint", ws, "not a url"),
        ("emails", ws, "Eve <eve@x.test>"),
        ("rotate-secret", ws),
        ("test", ws),
        ("status", "ws_nope"),
    ):
        result = run_cli(env, "notify", *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Error: ") and "Traceback" not in result.output
