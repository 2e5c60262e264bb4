"""A scripted attacker with the admin's session but not the mailbox, for one simulated hour.

It asks for codes as fast as the page lets it and guesses until each challenge dies. The
bound this proves: at most 5 guesses per challenge and 10 challenges an hour, so at most 50
guesses an hour against 10**6 codes: a success probability of at most 5e-5 per hour. The
same bound for an admin of several workspaces: the attacker goes round them all, and the cap
counts the admin's sends in every workspace, not per workspace.
"""

from __future__ import annotations

import itertools

import pytest

from admin_plugin import AdminIdentity
from policies import PolicyStore
from policies.otp.codes import DEFAULT_POLICY
from tests.support.admin import Api, Inbox, Who
from tests.support.clock import ManualClock


@pytest.mark.parametrize("workspaces", [1, 3])
def test_an_hour_of_guessing(
    api: Api, inbox: Inbox, clock: ManualClock, who: Who, store: PolicyStore, workspaces: int
) -> None:
    assert who.admin is not None
    others = [store.create_workspace(f"Other {n}", actor="test") for n in range(workspaces - 1)]
    managed = (api.ws, *(other.workspace_id for other in others))
    who.admin = AdminIdentity(who.admin.id, who.admin.email, managed)
    rounds = itertools.cycle(managed)
    start = clock()
    challenges = guesses = 0
    guess = 0
    while clock() - start < 3600:
        api.ws = next(rounds)
        sent = api.post("api/otp", {"action": "sdk_key.reveal"})
        if sent.status_code == 429:
            if sent.get_json()["reason"] == "hourly_cap":
                break
            clock.advance(float(sent.headers.get("Retry-After", "1")))
            continue
        assert sent.status_code == 202
        challenges += 1
        real = inbox.next_code()  # the attacker never sees it; it only keeps guesses honest
        while True:
            guess = (guess + 1) % 10**6
            if f"{guess:06d}" == real:
                continue
            answer = api.post("api/sdk-key/reveal", {"code": f"{guess:06d}"})
            assert answer.status_code == 403, "a wrong code unlocked the key"
            if answer.get_json()["reason"] == "missing":  # nothing left to guess against
                break
            guesses += 1
        clock.advance(DEFAULT_POLICY.cooldown_seconds)
    assert challenges == DEFAULT_POLICY.max_sends_per_hour == 10
    assert guesses == challenges * DEFAULT_POLICY.max_attempts == 50
    assert guesses / 10**6 <= 5e-5
    for ws in managed:
        api.ws = ws
        refused = api.post("api/otp", {"action": "sdk_key.reveal"})
        assert refused.status_code == 429 and refused.get_json()["reason"] == "hourly_cap"
