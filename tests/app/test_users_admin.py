"""Settings > Users rules that need no page: the last admin keeps the admin role."""

from __future__ import annotations

import pytest

from storage import open_store
from ui.auth import make_user
from ui.users_admin import save_user


def test_the_only_admin_cannot_be_demoted(tmp_path):
    store = open_store(data_dir=tmp_path)
    store.users.upsert(make_user("admin", "pw-" + "test-1234", role="admin", name="Admin", courses=[]))
    with pytest.raises(ValueError, match="only admin"):
        save_user(store, "admin", name="Admin", password="", role="instructor", courses=[101])
    assert store.users.get("admin")["role"] == "admin"
    save_user(store, "second", name="Second", password="pw-" + "test-5678", role="admin", courses=[])
    save_user(store, "admin", name="Admin", password="", role="instructor", courses=[101])  # now allowed
    assert store.users.get("admin")["role"] == "instructor"
