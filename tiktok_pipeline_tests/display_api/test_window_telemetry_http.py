"""poll_telemetry of windows collected over real HTTP: timeouts and pagination stops are counted (issue 11, 14 and 4).

The served simulator's timeout fault holds the connection silent, then closes it unanswered: a client
waiting longer than that sees the connection dropped (``RemoteProtocolError``), a client waiting less
sees ``ReadTimeout``. Either way the attempt timed out, and ``poll_telemetry.timeouts`` says so. Every
discovery's ``pagination_stop`` is counted per reason, from the landed records (a re-parse reproduces it).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tiktok_pipeline.governance import window_figures
from tiktok_pipeline.ingest.collect import display as collect
from tiktok_pipeline.ingest.land import DisplayCollection
from tiktok_pipeline.ingest.snapshots import observe_windows
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.warehouse.tables import POLL_TELEMETRY
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.display_api.test_client_http import make_client
from tiktok_pipeline_tests.display_api.test_hostile_answers_http import (
    AS_OF,
    HORIZON,
    Crafted,
    empty_pages_cursor,
)

START = AS_OF - WINDOW


def observe(client, usernames, landing_dir):
    how = DisplayCollection(
        client, usernames, landing_dir, HORIZON, max_age=timedelta(minutes=15), observe_at_window_end=True
    )
    return observe_windows(how, START, AS_OF, now=AS_OF + timedelta(hours=1))


@pytest.mark.parametrize(
    ("server_holds", "client_waits"),
    [(0.2, 5.0), (5.0, 0.2)],
    ids=["server-drops-the-connection", "client-times-out"],
)
def test_every_injected_timeout_is_counted(tmp_path, server_holds, client_waits):
    sim = Simulator(WorldConfig(seed=7), FaultConfig(rate_timeout=0.3, seed=4))
    usernames = [c.username for c in sim.world.creators()[:2]]
    with (
        serve_in_thread(sim, timeout_seconds=server_holds) as url,
        make_client(url, tmp_path, max_attempts=10, timeout_seconds=client_waits) as client,
    ):
        observed = observe(client, usernames, tmp_path / "landing")
    injected = sim.stats["fault timeout"]
    assert injected >= 2
    (row,) = observed.telemetry.to_dicts()
    assert row["timeouts"] == injected and client.stats["timeouts"] == injected
    assert client.stats["transport_errors"] == 0
    assert window_figures.telemetry_figures(observed)[observed.windows[0].key]["timeouts"] == injected


def test_pagination_stops_are_counted_per_reason_and_reproduced_by_a_reparse(tmp_path):
    sim = Crafted(empty_pages_cursor(-1), target=Simulator(WorldConfig(seed=7)).world.creators()[0].username)
    usernames = [c.username for c in sim.world.creators()[:3]]
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        observed = observe(client, usernames, tmp_path / "landing")
    (row,) = observed.telemetry.to_dicts()
    assert row["pagination_stop_empty_pages"] == 1
    normal = row["pagination_stop_horizon"] + row["pagination_stop_end_of_list"]
    assert normal == 2 and row["pagination_stops_abnormal"] == 1
    for reason in ("no_cursor", "cursor_not_older", "page_cap"):
        assert row[f"pagination_stop_{reason}"] == 0
    described = {c.name: c.description for c in POLL_TELEMETRY.columns}
    assert all(described[f"pagination_stop_{reason}"] for reason in collect.PAGINATION_STOPS)
    figures = window_figures.telemetry_figures(observed)[observed.windows[0].key]
    assert figures["pagination_stop_empty_pages"] == 1 and figures["pagination_stops_abnormal"] == 1

    with make_client("http://127.0.0.1:9", tmp_path) as offline:  # the landed file is re-parsed, nothing is called
        again = observe(offline, usernames, tmp_path / "landing")
    assert not again.windows[0].landed.collected
    (reparsed,) = again.telemetry.to_dicts()
    stops = [c for c in row if c.startswith("pagination_stop")]
    assert {c: reparsed[c] for c in stops} == {c: row[c] for c in stops}
