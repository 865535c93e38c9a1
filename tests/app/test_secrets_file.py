"""The secrets file the Settings page writes: valid TOML whatever is pasted, 0600, never clobbered."""

from __future__ import annotations

import stat
import tomllib

import pytest

from ui.secrets_file import SecretsFileError, dumps_toml, read_secrets, update_secrets


def test_any_pasted_value_round_trips(tmp_path):
    path = tmp_path / "secrets.toml"
    odd = 'tok\x01en\t"quoted"\\back\r\nslash\x7f'
    update_secrets({"MOODLE_STANDARD_TOKEN": odd, "ALLOWED": [1, 2]}, path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["MOODLE_STANDARD_TOKEN"] == odd.strip() and data["ALLOWED"] == [1, 2]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.toml"]  # no temporary file left


def test_other_secrets_survive_an_update(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('GEMINI_API_KEY = "g-test"\n\n[auth]\ncookie_key = "c-test"\n', encoding="utf-8")
    update_secrets({"MOODLE_URL": "https://moodle.example.edu", "MOODLE_CUSTOM_TOKEN": ""}, path)
    data = read_secrets(path)
    assert data["GEMINI_API_KEY"] == "g-test" and data["auth"]["cookie_key"] == "c-test"
    assert data["MOODLE_URL"] == "https://moodle.example.edu" and "MOODLE_CUSTOM_TOKEN" not in data


def test_a_broken_file_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "secrets.toml"
    broken = 'GEMINI_API_KEY = "g-test\n'
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(SecretsFileError, match="nothing was changed"):
        update_secrets({"MOODLE_URL": "https://x.example"}, path)
    assert path.read_text(encoding="utf-8") == broken


def test_unsupported_values_are_refused():
    with pytest.raises(SecretsFileError):
        dumps_toml({"a": {"b": {"c": 1}}})
    with pytest.raises(SecretsFileError):
        dumps_toml({"a": object()})
