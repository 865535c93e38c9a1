"""Settings > API tokens: create (shown once, stored as a hash), list, revoke."""

from __future__ import annotations

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app


@pytest.fixture()
def admin(populated):
    return login(new_app(), "admin", Creds.admin)


def test_create_list_and_revoke_a_token(admin, populated):
    from jobs.tokens import authenticate, hash_token

    at = admin.switch_page(PAGES["settings"]).run()
    at.selectbox(key="token_user").set_value("teacher101")
    at.text_input(key="token_label").input("lms")
    at.button[[b.label for b in at.button].index("Create token")].click().run()
    assert not at.exception and not errors(at), errors(at)
    shown = [c.value for c in at.code if str(c.value).startswith("clk_")]
    assert len(shown) == 1
    token = shown[0]
    user = authenticate(populated, token)
    assert user["username"] == "teacher101" and user["courses"] == [101]
    record = populated.tokens.by_hash(hash_token(token))
    assert record and "token" not in record and record["label"] == "lms"
    # a later run lists it (never the token itself) and revokes it
    at = admin.switch_page(PAGES["settings"]).run()
    assert not [c for c in at.code if str(c.value).startswith("clk_")]
    at.selectbox(key="token_revoke_pick").set_value(record["token_id"])
    at.button(key="token_revoke").click().run()
    assert not at.exception
    assert authenticate(populated, token) is None
