"""Shared fixtures: one demo site and one fake Moodle server per module, tokens built at runtime."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from moodle.demo import DemoSite
from moodle.fake_server import FakeMoodleServer

ANCHOR = date(2026, 1, 5)
AS_OF = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {"standard": "test-token-std-" + secrets.token_hex(6), "custom": "test-token-cus-" + secrets.token_hex(6)}


@pytest.fixture(scope="module")
def demo_site() -> DemoSite:
    return DemoSite(7, anchor=ANCHOR)


@pytest.fixture(scope="module")
def server(demo_site: DemoSite, tokens: dict[str, str]) -> Iterator[FakeMoodleServer]:
    with FakeMoodleServer(demo_site, standard_token=tokens["standard"], custom_token=tokens["custom"],
                          as_of=AS_OF, users={"teacher1": "pw-" + tokens["standard"][-4:]}) as srv:
        yield srv


@pytest.fixture
def fake(server: FakeMoodleServer) -> Iterator[FakeMoodleServer]:
    """The shared server with every fault switch reset before and after the test."""
    from moodle.fake_server import Faults

    server.faults = Faults()
    server.requests.clear()
    yield server
    server.faults = Faults()
