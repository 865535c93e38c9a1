"""python -m jobs users|token: the Settings page's rules from the shell; tokens stored only as hashes."""

from __future__ import annotations

import io
import json
import secrets

import pytest

from jobs import accounts
from jobs.cli import EXIT_FAILED, EXIT_OK, main
from jobs.tokens import authenticate, create_token, hash_token


def _out(capsys):
    return capsys.readouterr()


def test_users_add_list_passwd_remove(store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_NEW_PASSWORD", "first-" + "pw-123")
    assert main(["users", "add", "Boss", "--role", "admin"]) == EXIT_OK
    assert json.loads(_out(capsys).out)["status"] == "created"
    monkeypatch.delenv("COHORTLENS_NEW_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO("teach-" + "pw-456\n"))
    assert main(["users", "add", "ann", "--role", "instructor", "--course", "101", "--course", "102"]) == EXIT_OK
    ann = store.users.get("ann")
    assert ann["courses"] == [101, 102] and ann["role"] == "instructor"
    assert accounts.check_password("teach-" + "pw-456", ann["password_hash"])
    assert "password" not in ann and "teach-" not in json.dumps(ann, default=str)
    _out(capsys)
    assert main(["users", "list", "--json"]) == EXIT_OK
    rows = json.loads(_out(capsys).out)
    assert [r["username"] for r in rows] == ["ann", "boss"] and all("password_hash" not in r for r in rows)
    monkeypatch.setattr("sys.stdin", io.StringIO("new-" + "pw-789\n"))
    assert main(["users", "passwd", "ann"]) == EXIT_OK
    assert accounts.check_password("new-" + "pw-789", store.users.get("ann")["password_hash"])
    assert main(["users", "remove", "ann"]) == EXIT_OK
    assert store.users.get("ann") is None


def test_users_rules_are_the_settings_rules(store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_NEW_PASSWORD", "only-" + "admin-1")
    assert main(["users", "add", "root", "--role", "admin"]) == EXIT_OK
    _out(capsys)
    assert main(["users", "remove", "root"]) == EXIT_FAILED
    assert "only admin" in _out(capsys).err
    assert main(["users", "add", "root", "--role", "instructor"]) == EXIT_FAILED  # no demotion of the only admin
    assert "only admin" in _out(capsys).err
    assert main(["users", "passwd", "ghost"]) == EXIT_FAILED
    assert "no user 'ghost'" in _out(capsys).err
    assert main(["users", "add", "bad name!", "--role", "instructor"]) == EXIT_FAILED
    monkeypatch.delenv("COHORTLENS_NEW_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["users", "add", "nopw", "--role", "instructor"]) == EXIT_FAILED
    assert "no password" in _out(capsys).err
    with pytest.raises(SystemExit):
        main(["users", "add", "x", "--role", "owner"])


def test_ensure_admin_when_only_instructors_exist(store):
    store.users.upsert(accounts.make_user("ann", "Kx-" + secrets.token_hex(12), role="instructor", courses=[1]))
    out = io.StringIO()
    assert accounts.ensure_admin(store, out=out) is True
    assert out.getvalue().count("password:") == 1 and store.users.get("admin")["role"] == "admin"
    assert accounts.ensure_admin(store, out=out) is False


def test_token_create_list_revoke(store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_NEW_PASSWORD", "Kx-" + secrets.token_hex(12))
    main(["users", "add", "ann", "--role", "instructor", "--course", "7"])
    _out(capsys)
    assert main(["token", "create", "--user", "ann", "--label", "lms"]) == EXIT_OK
    printed = _out(capsys)
    created = json.loads(printed.out)
    token = created["token"]
    assert token.startswith("clk_") and len(token) > 40 and token not in printed.err
    raw = store.tokens.collection.find({})
    assert raw[0]["token_hash"] == hash_token(token) and token not in json.dumps(raw, default=str)
    user = authenticate(store, token)
    assert user["username"] == "ann" and user["courses"] == [7]
    assert authenticate(store, token + "x") is None and authenticate(store, None) is None
    assert main(["token", "list"]) == EXIT_OK
    listed = json.loads(_out(capsys).out)
    assert listed[0]["token_id"] == created["token_id"] and "token_hash" not in listed[0]
    assert main(["token", "revoke", created["token_id"]]) == EXIT_OK
    assert authenticate(store, token) is None
    assert main(["token", "revoke", created["token_id"]]) == EXIT_FAILED
    assert main(["token", "create", "--user", "ghost"]) == EXIT_FAILED


def test_token_follows_the_users_grants_and_removal(store):
    store.users.upsert(accounts.make_user("ann", "Kx-" + secrets.token_hex(12), role="instructor", courses=[1]))
    store.users.upsert(accounts.make_user("root", "Kx-" + secrets.token_hex(12), role="admin"))
    token, _ = create_token(store, "ann")
    accounts.save_user(store, "ann", role="instructor", courses=[1, 2])
    assert authenticate(store, token)["courses"] == [1, 2]  # grants are read at request time
    accounts.remove_user(store, "ann")
    assert authenticate(store, token) is None
    assert store.tokens.list("ann") == []


def test_weak_passwords_are_refused_by_the_cli(store, capsys, monkeypatch):
    for weak in ("a", "123456789012", "password123"):
        monkeypatch.setenv("COHORTLENS_NEW_PASSWORD", weak)
        assert main(["users", "add", "weakling", "--role", "instructor"]) == EXIT_FAILED
        assert "too weak" in _out(capsys).err
    assert store.users.get("weakling") is None
