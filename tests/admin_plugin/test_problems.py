"""The admin's problem documents speak the gateway's dialect: one ``type`` namespace, one
``code`` spelling (snake_case), ``code`` always present."""

from __future__ import annotations

import pytest

from admin_plugin import MailError
from admin_plugin.otp_flow import BadCode
from admin_plugin.problems import Problem, bad_request, forbidden, from_exception, not_found
from admin_plugin.views.base import csrf_problem
from admin_plugin.views.keys import duplicate
from gateway.refusals import problems as gateway_problems
from policies.errors import (
    CatalogError,
    ConfigError,
    KeystileError,
    NotFound,
    StoreUnavailable,
    UnknownWorkspace,
)
from policies.otp.codes import OtpRejected, OtpThrottled, RejectReason, ThrottleReason
from tests.support.admin import Api

EXCEPTIONS: list[Exception] = [
    OtpThrottled(ThrottleReason.COOLDOWN, 30),
    OtpRejected(RejectReason.WRONG, 3),
    BadCode("Enter the 6-digit code from the email."),
    MailError("The code could not be sent."),
    StoreUnavailable("down"),
    UnknownWorkspace("ws_AAAAAAAAAAAA"),
    NotFound("no such token"),
    CatalogError("no module 'x'"),
    ConfigError("bad"),
    KeystileError("bad input"),
    RuntimeError("unexpected"),
]
HELPERS = [
    bad_request("x"),
    forbidden("x"),
    not_found("x"),
    csrf_problem("x"),
    duplicate("x"),
]


@pytest.mark.parametrize("problem", [from_exception(e) for e in EXCEPTIONS] + HELPERS)
def test_type_and_code_as_the_gateway_writes_them(problem: Problem) -> None:
    body = problem.response().get_json()
    gateway_codes = [p.code for p in gateway_problems.PROBLEMS.values()]
    assert body["code"] == problem.code
    assert body["type"] == gateway_problems.TYPE_PREFIX + body["code"]
    # The gateway's spelling: lower-case words joined by "_".
    assert all(c.replace("_", "").isalpha() and c.islower() for c in gateway_codes)
    assert body["code"].replace("_", "").isalpha() and body["code"].islower()


def test_the_store_being_down_has_the_gateways_code() -> None:
    assert from_exception(StoreUnavailable("down")).code == gateway_problems.STORE_UNAVAILABLE.code


def test_a_code_in_another_spelling_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        Problem(503, "store-unavailable", "Key store unavailable", "x")


def test_answers_over_http_carry_the_code(api: Api) -> None:
    answers = [
        api.post("api/publishable-key/rotate", csrf=False),  # csrf
        api.post("api/sdk-key/reveal", {"code": "12"}),  # otp_malformed
        api.post("api/sdk-key/reveal", {"code": "123456"}),  # otp_rejected
        api.get("panel/nope"),  # not_found
    ]
    assert [a.get_json()["code"] for a in answers] == [
        "csrf",
        "otp_malformed",
        "otp_rejected",
        "not_found",
    ]
    for answer in answers:
        assert answer.mimetype == "application/problem+json"
        assert answer.get_json()["type"] == gateway_problems.TYPE_PREFIX + answer.get_json()["code"]
