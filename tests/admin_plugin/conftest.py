"""Fixtures of the admin plugin's tests: a real SMTP server, a host app, a workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from admin_plugin import AdminIdentity, SmtpConfig, SmtpMailer
from keystile.redis_server import free_port
from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.admin import ALICE_EMAIL, Api, Inbox, Who, make_host_app


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    smtp_server[0].reset()
    return smtp_server[0]


@pytest.fixture
def mailer(smtp_server: tuple[Inbox, int]) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig(sender="keystile@acme.test", host="127.0.0.1", port=smtp_server[1])
    )


@pytest.fixture
def alice(workspace: CreatedWorkspace) -> AdminIdentity:
    return AdminIdentity("alice", ALICE_EMAIL, (workspace.workspace_id,), name="Alice")


@pytest.fixture
def who(alice: AdminIdentity) -> Who:
    return Who(alice)


@pytest.fixture
def app(store: PolicyStore, who: Who, mailer: SmtpMailer, inbox: Inbox) -> Flask:
    return make_host_app(store, who, mailer)


@pytest.fixture
def api(app: Flask, workspace: CreatedWorkspace) -> Api:
    api = Api(app.test_client(), workspace.workspace_id)
    assert api.page().status_code == 200 and api.csrf
    return api
