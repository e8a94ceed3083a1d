"""Fixtures for the simulator tests: a settable clock, simulators and authorised clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator

AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
BASE_URL = "http://sim.test"


class Clock:
    """Wall time the test controls (epoch seconds)."""

    def __init__(self, now: float = AS_OF) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def exchange_code(client: httpx.Client, username: str, **form: str) -> httpx.Response:
    """POST an authorization-code grant for ``username`` (form fields may be overridden)."""
    data = {
        "client_key": "sim-client",
        "client_secret": "sim-secret",
        "grant_type": "authorization_code",
        "code": f"sim-code-{username}",
        "redirect_uri": "https://example.test/callback",
        **form,
    }
    return client.post("/v2/oauth/token/", data=data)


def bearer(client: httpx.Client, username: str, scopes: str | None = None) -> dict[str, str]:
    """Authorization and as-of headers for ``username`` (optionally with fewer scopes)."""
    code = f"sim-code-{username}" + (f":{scopes}" if scopes else "")
    token = exchange_code(client, username, code=code).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "X-Simulator-As-Of": repr(AS_OF)}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client() -> Iterator[Callable[[Simulator], httpx.Client]]:
    """Builds in-process clients for simulators; closes them afterwards."""
    clients: list[httpx.Client] = []

    def make(sim: Simulator) -> httpx.Client:
        clients.append(httpx.Client(transport=sim.transport(), base_url=BASE_URL))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    return Simulator(clock=clock)


@pytest.fixture
def client(sim: Simulator, make_client: Callable[[Simulator], httpx.Client]) -> httpx.Client:
    return make_client(sim)


@pytest.fixture
def username(sim: Simulator) -> str:
    return sim.world.creators()[0].username


@pytest.fixture
def auth(client: httpx.Client, username: str) -> dict[str, str]:
    return bearer(client, username)
