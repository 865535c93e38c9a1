"""Sessions that end, failed sign-ins that lock, the audit log (AppTest over the real app and store)."""

from __future__ import annotations

import secrets

import pytest

from tests.app.conftest import Creds, login, new_app


def _pw() -> str:
    return "s3ss-" + secrets.token_urlsafe(10)


def _user(store, name: str, password: str, **kw):
    from ui.auth import make_user

    store.users.delete(name)
    store.users.upsert(make_user(name, password, role=kw.pop("role", "instructor"), courses=[101], **kw))


def _on_login_form(at) -> bool:
    at.run()
    assert not at.exception, at.exception
    return bool(at.text_input) and at.text_input[0].label == "Username" and not at.session_state["authentication_status"]


def test_password_change_ends_every_session(populated):
    from ui.users_admin import save_user

    pw = _pw()
    _user(populated, "sess_pw", pw)
    a, b = login(new_app(), "sess_pw", pw), login(new_app(), "sess_pw", pw)
    save_user(populated, "sess_pw", name="x", password=_pw(), role="instructor", courses=[101])
    assert _on_login_form(a) and _on_login_form(b)
    assert populated.sessions.for_user("sess_pw") == []


@pytest.mark.parametrize("change", ["role", "grant", "delete"])
def test_role_grant_change_or_removal_ends_sessions(populated, change):
    from ui.users_admin import save_user

    pw = _pw()
    _user(populated, "sess_rg", pw)
    at = login(new_app(), "sess_rg", pw)
    if change == "role":
        save_user(populated, "sess_rg", name="x", password="", role="admin", courses=[101])
    elif change == "grant":
        save_user(populated, "sess_rg", name="x", password="", role="instructor", courses=[101, 102])
    else:
        populated.users.delete("sess_rg")
    assert _on_login_form(at)


def test_name_change_keeps_the_session(populated):
    from ui.users_admin import save_user

    pw = _pw()
    _user(populated, "sess_nm", pw)
    at = login(new_app(), "sess_nm", pw)
    save_user(populated, "sess_nm", name="New Name", password="", role="instructor", courses=[101])
    at.run()
    assert at.session_state["authentication_status"] is True


def test_sign_out_ends_the_other_sessions_too(populated):
    pw = _pw()
    _user(populated, "sess_out", pw)
    a, b = login(new_app(), "sess_out", pw), login(new_app(), "sess_out", pw)
    a.button(key="logout_button").click().run()
    assert not a.session_state["authentication_status"]
    assert _on_login_form(b)


def test_a_recreated_user_does_not_inherit_old_sessions(populated):
    from ui.auth import SID_KEY

    pw = _pw()
    _user(populated, "sess_re", pw)
    at = login(new_app(), "sess_re", pw)
    old = populated.sessions.get(at.session_state[SID_KEY])
    populated.sessions.collection.insert_one({**old, "_id": "stale-copy", "sid": "stale-copy"})  # a kept cookie
    _user(populated, "sess_re", pw)  # removed and created again with the same name and password
    assert _on_login_form(at)
    from ui.auth import session_valid

    assert session_valid(populated, populated.sessions.get("stale-copy")) is None


def test_ten_wrong_passwords_lock_the_user_then_admin_unlocks(populated, monkeypatch):
    from ui.auth import unlock

    monkeypatch.setenv("COHORTLENS_SLOW_AFTER", "100")  # the delay itself is tested in tests/unit/ui
    pw = _pw()
    _user(populated, "sess_lock", pw)
    at = new_app()
    at.run()
    for _ in range(10):
        at.text_input[0].input("sess_lock")
        at.text_input[1].input("wrong-" + secrets.token_hex(4))
        at.button[0].click().run()
        assert "Wrong username or password." in [e.value for e in at.error]
    at.text_input[0].input("sess_lock")
    at.text_input[1].input(pw)  # the right password no longer helps
    at.button[0].click().run()
    assert any("locked" in e.value for e in at.error) and at.session_state["authentication_status"] is not True
    events = [r["event"] for r in populated.audit.recent(50, username="sess_lock")]
    assert events.count("login_failed") == 10 and "locked_out" in events and "login_locked" in events
    unlock(populated, "user:sess_lock", by="admin")
    login(at, "sess_lock", pw)
    assert "login" in [r["event"] for r in populated.audit.recent(5, username="sess_lock")]


def test_settings_lists_the_lock_and_unlocks(populated, monkeypatch):
    monkeypatch.setenv("COHORTLENS_SLOW_AFTER", "100")
    from ui.auth import attempt_login

    pw = _pw()
    _user(populated, "sess_set", pw)
    for _ in range(10):
        attempt_login(populated, "sess_set", "nope-" + secrets.token_hex(3))
    from tests.app.conftest import PAGES

    at = login(new_app(), "admin", Creds.admin)
    at.switch_page(PAGES["settings"]).run()
    assert not at.exception
    at.selectbox(key="unlock_pick").set_value("user:sess_set").run()
    at.button(key="unlock_button").click().run()
    assert attempt_login(populated, "sess_set", pw)[0] == "ok"


def test_weak_passwords_are_refused(populated):
    from ui.users_admin import save_user

    for weak in ("a", "short1", "aaaaaaaaaaaa", "12345678901", "password123", "xsess_weakx-1"):
        with pytest.raises(ValueError, match="too weak"):
            save_user(populated, "sess_weak", name="w", password=weak, role="instructor", courses=[])
    assert populated.users.get("sess_weak") is None
