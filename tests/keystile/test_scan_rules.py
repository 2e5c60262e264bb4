"""The gitleaks rules and the TruffleHog detector in docs/scanners, run the way those tools
run them (keyword prefilter, regex on RE2, secret group, Shannon entropy; TruffleHog's verify
POST to ``keystile scan --serve-verifier``'s server) over the scan tests' tree: they match
exactly the secret keys ``keystile scan`` finds, plus the near-misses only the checksum tells
apart, which the verifier then refuses."""

from __future__ import annotations

import json
import math
import os
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import re2
import yaml

from keystile.scan import Scanner
from keystile.scan_verifier import verifier
from policies.keys.keyformat import KeyKind
from tests.support.key_tree import KeyTree, Placed, build

DOCS = Path(__file__).parents[2] / "docs" / "scanners"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> KeyTree:
    base = tmp_path_factory.mktemp("rules")
    (base / "tree").mkdir()
    return build(base / "tree", base / "outside")


@pytest.fixture(scope="module")
def texts(tree: KeyTree) -> dict[str, str]:
    """The files a default scan reads (no .git, no link, no binary file), decoded as Go
    strings are read: undecodable bytes are U+FFFD."""
    files = {}
    for folder, dirs, names in os.walk(tree.root):
        dirs[:] = [d for d in dirs if d != ".git" and not os.path.islink(Path(folder, d))]
        for name in names:
            data = Path(folder, name).read_bytes()
            if b"\0" not in data[:8000]:
                relative = Path(folder, name).relative_to(tree.root).as_posix()
                files[relative] = data.decode("utf-8", errors="replace")
    return files


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def place(path: str, text: str, match: Any, group: int) -> Placed:
    index = match.start(group)
    line_start = text.rfind("\n", 0, index) + 1
    raw = match.group(group)
    line = text.count("\n", 0, index) + 1
    return Placed(path, line, index - line_start + 1, KeyKind(raw[:2]), "ws_" + raw[3:15])


def matches(
    texts: dict[str, str], regex: str, keywords: list[str], min_entropy: float, group: int
) -> Iterator[tuple[Placed, Any]]:
    """On RE2 (Go's regexp is its port: the engine gitleaks and TruffleHog run), which also
    refuses what RE2 cannot do (look-around, back-references). Python's re agrees once
    re.ASCII makes its \\b and classes ASCII, as RE2's are."""
    on_re2, on_python = re2.compile(regex), re.compile(regex, re.ASCII)
    for path, text in texts.items():
        spans = [(m.span(), m.groups()) for m in on_python.finditer(text)]
        assert [(m.span(), m.groups()) for m in on_re2.finditer(text)] == spans
        if not any(keyword.lower() in text.lower() for keyword in keywords):
            continue
        for match in on_re2.finditer(text):
            if entropy(match.group(group)) >= min_entropy:
                yield place(path, text, match, group), match


def secret_findings(tree: KeyTree) -> set[Placed]:
    report = Scanner().scan([str(tree.root)])
    prefix = f"{tree.root}/"
    return {
        Placed(
            f.path.removeprefix(prefix), f.key.line, f.key.column, f.key.kind, f.key.workspace_id
        )
        for f in report.findings
        if f.key.secret
    }


def test_gitleaks_rules_match_the_secret_keys_and_the_checksum_misses(
    tree: KeyTree, texts: dict[str, str]
) -> None:
    config = tomllib.loads((DOCS / "gitleaks.toml").read_text())
    assert config["extend"] == {"useDefault": True}
    found: list[Placed] = []
    for rule in config["rules"]:
        assert set(rule) >= {"id", "description", "regex", "secretGroup", "keywords", "entropy"}
        assert re.fullmatch(r"keystile_[a-z_]+", rule["id"])
        args = (rule["regex"], rule["keywords"], rule["entropy"], rule["secretGroup"])
        found += [placed for placed, _ in matches(texts, *args)]
    assert {rule["id"] for rule in config["rules"]} == {
        "keystile_sdk_access_key",
        "keystile_workspace_token",
    }
    misses = {placed for placed in tree.checksum_only if placed.secret}
    assert len(found) == len(set(found))
    assert set(found) == secret_findings(tree) | misses
    assert misses and secret_findings(tree).isdisjoint(misses)


@pytest.fixture(scope="module")
def verifier_url() -> Iterator[str]:
    server = verifier("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_trufflehog_verified_matches_are_exactly_the_secret_keys(
    tree: KeyTree, texts: dict[str, str], verifier_url: str
) -> None:
    config: dict[str, Any] = yaml.safe_load((DOCS / "trufflehog.yaml").read_text())
    [detector] = config["detectors"]
    [(regex_name, regex)] = detector["regex"].items()
    [verify] = detector["verify"]
    assert verify["endpoint"] == "http://127.0.0.1:8740/" and verify["unsafe"] is True
    verified, unverified = set(), set()
    for placed, match in matches(texts, regex, detector["keywords"], detector["entropy"], 1):
        # What TruffleHog POSTs: the whole match, then the groups, per regex name.
        payload = {detector["name"]: {regex_name: [match.group(0), *match.groups()]}}
        answer = httpx.post(verifier_url, content=json.dumps(payload))
        (verified if answer.status_code == 200 else unverified).add(placed)
    assert verified == secret_findings(tree)
    assert unverified == {placed for placed in tree.checksum_only if placed.secret}
