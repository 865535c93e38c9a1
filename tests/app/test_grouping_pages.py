"""Pages say which window the groups describe; an admin pins k / asks for a regrouping on Diagnostics."""

from __future__ import annotations

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app


@pytest.fixture(scope="module")
def _admin(populated):
    return login(new_app(), "admin", Creds.admin)


@pytest.fixture()
def admin(_admin):
    _admin.session_state["lang"] = "en"
    return _admin.switch_page(PAGES["overview"]).run()


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize("page", ["overview", "transitions", "diagnostics"])
def test_pages_say_which_window_the_groups_describe(admin, page):
    at = admin.switch_page(PAGES[page]).run()
    assert not at.exception and not errors(at)
    assert any("These groups describe behaviour in the 4 weeks" in c for c in _captions(at)), _captions(at)


def test_admin_pins_k_unpins_and_requests_a_regrouping(admin, populated):
    store = populated
    at = admin.switch_page(PAGES["diagnostics"]).run()
    assert any("k is not pinned" in c for c in _captions(at))
    labels = [b.label for b in at.button]
    assert {"Pin k", "Unpin", "Regroup at the next run"} <= set(labels)
    at.number_input[0].set_value(3)
    at.button[labels.index("Pin k")].click().run()
    assert not at.exception
    assert store.courses.get(101)["k_pinned"] == 3
    at.button[[b.label for b in at.button].index("Unpin")].click().run()
    assert store.courses.get(101)["k_pinned"] is None
    at.button[[b.label for b in at.button].index("Regroup at the next run")].click().run()
    assert store.courses.get(101)["regroup_requested"]["by"] == "admin"
    store.courses.request_regroup(101, False)     # leave the shared store as it was


def test_instructor_sees_no_grouping_controls(populated):
    at = login(new_app(), "teacher101", Creds.teacher)
    at = at.switch_page(PAGES["diagnostics"]).run()
    assert not at.exception
    assert "Pin k" not in [b.label for b in at.button]
