from pathlib import Path

import pytest

from policies import ConfigError, Keyring, Settings


def test_file_then_environment(tmp_path: Path, master_key: str, digest_secret: str) -> None:
    other = Keyring.generate_master_key()
    path = tmp_path / "keystile.toml"
    path.write_text(
        f'[keystile]\nredis_url = "redis://file:6379/0"\nmaster_keys = ["{master_key}"]\n'
        f'digest_secret = "{digest_secret}"\n[gateway]\nstale_bound = 5\n'
    )
    from_file = Settings.load({}, path)
    assert from_file.redis_url == "redis://file:6379/0"
    assert from_file.section("gateway") == {"stale_bound": 5}
    assert from_file.section("admin") == {}
    env = {"REDIS_URL": "redis://env:1/0", "KEYSTILE_MASTER_KEYS": f"{other}, {master_key}"}
    both = Settings.load(env, path)
    assert both.redis_url == "redis://env:1/0"
    assert both.master_keys == (other, master_key)
    assert digest_secret not in repr(both) and master_key not in repr(both)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[keystile\n", "not valid TOML"),
        ("keystile = 3\n", "must be a table"),
        ("[keystile]\nmaster_keys = 3\n", "list of strings"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "c.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings.load({}, tmp_path / "c.toml")


def test_missing_secrets_fail_at_start() -> None:
    with pytest.raises(ConfigError, match="no master key"):
        Settings.load({})
    with pytest.raises(ConfigError, match="cannot read config file"):
        Settings.load({}, "/no/such.toml")
