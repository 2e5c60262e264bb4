"""``.pre-commit-hooks.yaml``: real pre-commit installs this repository's hook in its own
virtualenv (as a project using it would: pip from the registry) and runs it on a git
repository: a staged secret key fails the hook; a binary file is never passed to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policies.keys import keyformat
from policies.keys.keyformat import KeyKind

REPO = Path(__file__).parents[2]
MANIFEST = REPO / ".pre-commit-hooks.yaml"


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_manifest_is_valid_for_pre_commit() -> None:
    env = dict(os.environ)
    done = run(
        sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST), cwd=REPO, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [hook] = yaml.safe_load(MANIFEST.read_text())
    assert hook["id"] == "keystile-scan"
    assert (hook["language"], hook["types"], hook["entry"]) == ("python", ["text"], "keystile scan")
    assert hook["pass_filenames"] is True


@pytest.mark.slow
def test_a_staged_secret_key_fails_the_hook(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_"))}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "cache")  # a fresh hook environment
    project = tmp_path / "project"
    project.mkdir()
    token = keyformat.generate(KeyKind.TOKEN, keyformat.new_workspace_id())
    sdk = keyformat.generate(KeyKind.SDK, keyformat.new_workspace_id())
    (project / "settings.py").write_text(f"DEBUG = True\nTOKEN = '{token}'\n")
    (project / "page.js").write_text(
        f"const key = '{keyformat.generate(KeyKind.PUBLISHABLE, 'ws_AbCdEfGh1234')}';\n"
    )
    (project / "blob.bin").write_bytes(b"\0\0" + sdk.encode())  # not text: never passed
    run("git", "init", "-q", cwd=project, env=env)
    run("git", "add", ".", cwd=project, env=env)
    hook = (sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "keystile-scan")

    done = run(*hook, "--all-files", cwd=project, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Failed" in output and "- exit code: 1" in output
    assert "settings.py:2:10: workspace token (tk_) of workspace ws_" in output
    assert "page.js:1:14: publishable key (pk_) of workspace ws_AbCdEfGh1234 (public" in output
    assert "blob.bin" not in output
    assert token[3:] not in output and sdk[3:] not in output
