"""Config: env, then secrets.toml, then defaults; secrets never in repr; admin settings override."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.config import effective_settings, load_config, save_settings


def test_defaults_without_any_configuration(tmp_path):
    cfg = load_config()
    assert cfg.source == "demo"
    assert cfg.schedule == "0 2 * * *"
    assert cfg.enabled is True
    assert cfg.retry_attempts == 3
    assert cfg.retry_backoff_minutes == (1.0, 5.0, 15.0)
    assert cfg.timezone == "Asia/Ho_Chi_Minh"
    assert cfg.language == "vi"
    assert cfg.gemini_model == "gemini-2.5-flash"
    assert cfg.min_students == 10 and cfg.max_parallel_courses == 2 and cfg.snapshot_retention == 12
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.gemini_api_key is None and cfg.moodle_standard_token is None and cfg.llm_available is False


def test_env_wins_over_secrets_file_and_source_follows_moodle_url(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('CLUSTER_JOB_SCHEDULE = "30 3 * * *"\nMOODLE_URL = "https://moodle.example.org"\n'
                       'COHORTLENS_LANGUAGE = "en"\n[moodle]\nstandard_token = "from-file-tok-123"\n',
                       encoding="utf-8")
    monkeypatch.setenv("COHORTLENS_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("COHORTLENS_LANGUAGE", "vi")
    monkeypatch.setenv("CLUSTER_JOB_ENABLED", "false")
    monkeypatch.setenv("CLUSTER_JOB_RETRY_ATTEMPTS", "5")
    cfg = load_config()
    assert cfg.schedule == "30 3 * * *"          # from the file
    assert cfg.language == "vi"                  # env beats the file
    assert cfg.enabled is False and cfg.retry_attempts == 5
    assert cfg.moodle_url == "https://moodle.example.org" and cfg.source == "moodle"
    assert cfg.moodle_standard_token == "from-file-tok-123"


def test_secrets_are_redacted_in_repr(monkeypatch):
    token = "tok-" + "abcdef123456"
    key = "key-" + "zyxwv987654"
    monkeypatch.setenv("MOODLE_STANDARD_TOKEN", token)
    monkeypatch.setenv("GEMINI_API_KEY", key)
    monkeypatch.setenv("MONGODB_URI", "mongodb://user:pw-" + "secret99@db.example.org/x")
    cfg = load_config()
    text = repr(cfg) + str(cfg) + str(cfg.public_dict())
    assert token not in text and key not in text and "secret99" not in text
    assert cfg.public_dict()["moodle_standard_token_set"] is True
    assert cfg.llm_available is True


def test_invalid_values_raise_clear_errors(monkeypatch):
    monkeypatch.setenv("CLUSTER_JOB_RETRY_ATTEMPTS", "three")
    with pytest.raises(ValueError, match="CLUSTER_JOB_RETRY_ATTEMPTS"):
        load_config()
    monkeypatch.delenv("CLUSTER_JOB_RETRY_ATTEMPTS")
    monkeypatch.setenv("COHORTLENS_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown timezone"):
        load_config()


def test_saved_settings_override_env_defaults(store):
    cfg = load_config()
    save_settings(store, schedule="15 1 * * 1", timezone="UTC", enabled=False, language="en",
                  llm_model="gemini-2.5-pro", nightly_courses=[102, 101])
    store.courses.upsert({"course_id": 101, "fullname": "A"})
    store.courses.set_flags(101, enabled=False)
    store.courses.upsert({"course_id": 102, "fullname": "B"})
    store.courses.set_flags(102, k_pinned=4)
    eff = effective_settings(store, cfg)
    assert (eff.schedule, eff.timezone, eff.enabled, eff.language, eff.gemini_model) == \
        ("15 1 * * 1", "UTC", False, "en", "gemini-2.5-pro")
    assert eff.nightly_courses == (102, 101)
    assert eff.course_enabled(101) is False and eff.course_enabled(102) is True
    assert eff.pinned_k(102) == 4 and eff.pinned_k(101) is None
    assert cfg.schedule == "0 2 * * *"  # the base config is untouched


def test_invalid_saved_settings_are_ignored(store):
    save_settings(store, timezone="Nowhere/Land")
    eff = effective_settings(store, load_config())
    assert eff.timezone == "Asia/Ho_Chi_Minh"
    with pytest.raises(KeyError):
        save_settings(store, gemini_api_key="x")


def test_data_dir_is_a_path(monkeypatch, tmp_path):
    monkeypatch.setenv("COHORTLENS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_config().data_dir == Path(tmp_path / "elsewhere")
