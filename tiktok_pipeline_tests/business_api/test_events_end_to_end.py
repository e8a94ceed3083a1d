"""End to end over real HTTP: the conversion_outbox asset, re-runs and a lost request, against a served simulator.

Every order must reach TikTok exactly once (the simulator counts duplicates: zero), and no raw email,
phone number, IP address or user agent may appear in any warehouse table (quarantine payloads included), in any
file the pipeline wrote (landing zone, polling state, the warehouse's own files), or in the runs' logs and events.
"""

import gzip
import json
import logging
from datetime import timedelta

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.conversions.sensors import default_status
from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.events import SIM_EVENT_SETS, SIM_PIXEL_CODE
from tiktok_pipeline.simulator.business.shop import sample_orders, write_orders
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from ..conftest import T0
from ..test_assets import materialize_range

WINDOWS = 4


def materialize(defs, instance, first, last=None, **run_config):
    """One run of conversion_outbox for windows ``first`` .. ``last`` (inclusive)."""
    last = last or first
    asset = next(
        a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and dg.AssetKey("conversion_outbox") in a.keys
    )
    return dg.materialize(
        [asset],
        resources=dict(defs.resources),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last),
        },
        run_config={"ops": {"conversion_outbox": {"config": run_config}}} if run_config else None,
        raise_on_error=False,
    )


def metadata(result) -> dict:
    event = next(e for e in result.all_events if e.is_step_materialization)  # the first window's
    return {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}


def warehouse_text(settings) -> str:
    with open_warehouse(settings) as con:
        tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return json.dumps({t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}, default=str)


def files_text(root, skip) -> str:
    """Every file under ``root`` but those under ``skip``, gzip decompressed, as text."""
    parts = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or skip in path.parents:
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def raw_personal_data(order: dict) -> list[str]:
    """The forms an order's personal data could be stored in unhashed."""
    digits = "".join(c for c in order["phone"] if c.isdigit())
    email = order["email"]
    return [
        email,
        email.strip(),
        email.strip().lower(),
        order["ip"],
        order["user_agent"],
        order["phone"],
        digits,
        "+1" + digits,
    ]


@pytest.fixture
def shop(settings, tmp_path):
    orders = sample_orders(T0, T0 + WINDOWS * WINDOW, seed=3, per_hour=150)
    bad = dict(
        orders[0], order_id="bad-1", currency="dollars", email="Quarantined.Person@Example.com", phone="(202) 555-0188"
    )
    write_orders(tmp_path / "incoming" / "export-1.jsonl", orders[: len(orders) // 2] + [bad])
    write_orders(tmp_path / "incoming" / "export-2.jsonl", orders[len(orders) // 3 :])  # overlaps the first export
    return orders + [bad]


@pytest.mark.both_backends
def test_conversions_reach_tiktok_exactly_once_and_no_pii_lands(settings, tmp_path, shop, caplog):
    caplog.set_level(logging.DEBUG)
    simulator = Simulator(clock=lambda: (T0 + timedelta(hours=2)).timestamp())
    store = simulator.business.events
    instance = dg.DagsterInstance.ephemeral()
    with serve_in_thread(simulator, timeout_seconds=0.2) as url:
        served = settings.replace(
            display__api_base_url=url,
            display__api_is_simulator=True,
            conversions__conversions_dir=tmp_path / "incoming",
        )
        defs = build_definitions(served)
        first = materialize(defs, instance, T0)
        rerun = materialize(defs, instance, T0)
        store.timeout_next(when="before")  # the next request is lost
        lost = materialize(defs, instance, T0 + WINDOW, T0 + 2 * WINDOW)
        retried = materialize(defs, instance, T0 + WINDOW, T0 + 2 * WINDOW)
        last = materialize(defs, instance, T0 + 3 * WINDOW)
        everything = materialize(defs, instance, T0, T0 + 3 * WINDOW)
    results = [first, rerun, lost, retried, last, everything]
    assert all(r.success for r in results)

    good = [o for o in shop if o["order_id"] != "bad-1"]
    expected = {o.get("pixel_event_id") or o["order_id"] for o in good}
    assert len(expected) == len(good) > 20
    assert store.duplicates == 0
    assert {event_id for (_, _, event_id) in store.deliveries} == expected
    assert set(store.deliveries.values()) == {1}
    assert {(pixel, event) for (pixel, event, _) in store.deliveries} == {(SIM_PIXEL_CODE, "CompletePayment")}
    assert store.timeouts_before == 1 and store.test_events == []

    m = [metadata(r) for r in results]
    assert m[0]["sent"] == m[0]["orders_in_window"] > 0 and m[0]["requests"] == 1  # one window: its figures
    assert m[1]["requests"] == 0 and m[1]["duplicates_skipped"] >= m[0]["sent"]
    assert m[2]["range_ambiguous"] > 0 and m[2]["range_sent"] == 0  # several windows: the run's as range_...
    assert m[3]["range_sent"] == m[2]["range_ambiguous"] and m[3]["range_queued"] == 0
    assert m[5]["range_requests"] == 0 and m[5]["range_queued"] == 0 and m[5]["range_quarantined_orders"] == 1
    assert m[0]["duplicate_orders_in_exports"] > 0
    per_window = [
        e.step_materialization_data.materialization.metadata["quarantined_orders"].value
        for e in everything.all_events
        if e.is_step_materialization
    ]
    assert sorted(per_window) == [0, 0, 0, 1]  # each window its own count, not the range's

    with open_warehouse(settings) as con:
        statuses = con.execute(
            "SELECT status, count(*), min(attempts), max(attempts) FROM conversion_outbox GROUP BY 1"
        ).fetchall()
        quarantined = con.execute("SELECT reason FROM quarantined_records WHERE asset = 'conversion_outbox'").fetchall()
        own = con.execute("SELECT reason FROM conversion_quarantine").fetchall()
        calls = con.execute("SELECT source, purpose, endpoint, outcome FROM api_call_log").fetchall()
        scopes = con.execute("SELECT DISTINCT scope FROM api_call_log").fetchall()
    assert scopes == [("Events API access to the pixel and event sets",)]  # as SOURCES["events_api"] declares
    # api_call_log: every Events API call, the one lost request included (no answer: a timeout)
    assert {(source, purpose) for source, purpose, _, _ in calls} == {("events_api", "send conversions")}
    assert all(endpoint.startswith("/open_api/v1.3/") for _, _, endpoint, _ in calls)
    assert sum(outcome != "answered" for *_, outcome in calls) == 1
    assert own == quarantined  # its own table, written once however often the window ran
    assert statuses == [("sent", len(expected), 1, 2)]
    assert len(quarantined) == 1 and "currency" in quarantined[0][0] and "export-1.jsonl" in quarantined[0][0]

    window = materialize_range(settings, T0, T0, instance=instance)  # the landing zone holds answers too
    assert window.success and list(settings.landing_dir.rglob("*.jsonl.gz"))
    results.append(window)
    logs = caplog.text + " ".join(entry.message or "" for r in results for entry in instance.all_logs(r.run_id))
    events = " ".join(repr(entry.dagster_event) for r in results for entry in instance.all_logs(r.run_id))
    stored = warehouse_text(settings)
    written = files_text(tmp_path, skip=tmp_path / "incoming")  # landing zone, state, warehouse and lake files
    exports = files_text(tmp_path / "incoming", skip=tmp_path / "none")
    assert "Quarantined.Person@Example.com" in exports and "currency" in stored  # the scans see what is there
    for o in shop:
        for value in raw_personal_data(o):
            assert value not in stored, f"raw personal data in the warehouse: {value!r}"
            assert value not in written, f"raw personal data in a file the pipeline wrote: {value!r}"
            assert value not in logs, f"raw personal data in the logs: {value!r}"
            assert value not in events, f"raw personal data in the runs' events (metadata): {value!r}"


def test_a_real_host_needs_a_pixel_code_and_the_token_stays_secret(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOK_BUSINESS_ACCESS_TOKEN", "business-token-value")
    monkeypatch.delenv("TIKTOK_PIXEL_CODE", raising=False)
    real = settings.replace(
        ads__business_api_base_url="https://business-api.tiktok.invalid",
        conversions__conversions_dir=tmp_path / "incoming",
    )
    defs = build_definitions(real)
    repo = defs.get_repository_def()
    # the sensor's default status is known at load, from the environment: off without a pixel code
    assert default_status(real) == dg.DefaultSensorStatus.STOPPED
    assert repo.get_sensor_def("conversion_exports_sensor").default_status == default_status(load_settings())
    assert isinstance(defs.resources["business_api"].access_token, dg.EnvVar)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(defs, instance, T0)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "TIKTOK_PIXEL_CODE" in failure.step_failure_data.error.message
    run = instance.get_run_by_id(result.run_id)
    logs = " ".join(entry.message or "" for entry in instance.all_logs(result.run_id))
    assert "business-token-value" not in json.dumps(run.run_config) + logs
    assert (
        build_definitions(real.replace(conversions__pixel_code="CREALPIXEL0000000001"))
        .resources["conversions"]
        .pixel_code
        == "CREALPIXEL0000000001"
    )


@pytest.mark.both_backends
def test_the_asset_isolates_a_refused_event_and_sends_offline_and_crm_orders(settings, tmp_path):
    """Over HTTP through the asset: TikTok refuses the batch for one bad event; the others still arrive once."""
    orders = sample_orders(T0, T0 + WINDOW, seed=5, per_hour=600)
    for order in orders[1::3]:
        order["event_source"] = "offline"
    orders[2]["event_source"] = "crm"
    bad = orders[4]["order_id"]
    write_orders(tmp_path / "incoming" / "export-1.jsonl", orders)
    simulator = Simulator(clock=lambda: (T0 + timedelta(hours=2)).timestamp())
    store = simulator.business.events
    store.invalid_event_ids = {bad}
    with serve_in_thread(simulator, timeout_seconds=0.2) as url:
        served = settings.replace(
            display__api_base_url=url,
            display__api_is_simulator=True,
            conversions__conversions_dir=tmp_path / "incoming",
        )
        result = materialize(build_definitions(served), dg.DagsterInstance.ephemeral(), T0)
    assert result.success
    assert metadata(result)["sent"] == len(orders) - 1 and metadata(result)["rejected"] == 1
    assert len(store.events) == len(orders) - 1 and store.duplicates == 0 and set(store.deliveries.values()) == {1}
    assert {e.pixel_code for e in store.events} == {SIM_PIXEL_CODE, *SIM_EVENT_SETS.values()}
    with open_warehouse(settings) as con:
        rejected = con.execute("SELECT order_id, response_message FROM conversion_outbox WHERE status = 'rejected'")
        assert rejected.fetchall() == [(bad, "Invalid value for event_id: not a valid string.")]


def test_event_sets_come_from_the_settings_or_the_simulator(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOK_BUSINESS_ACCESS_TOKEN", "business-token-value")
    real = settings.replace(
        ads__business_api_base_url="https://business-api.tiktok.invalid", conversions__pixel_code="CREALPIXEL00001"
    )
    assert real.events_event_sets == {}
    assert real.replace(conversions__crm_event_set_id="7123").events_event_sets == {"crm": "7123"}
    resource = build_definitions(real.replace(conversions__offline_event_set_id="7001")).resources["conversions"]
    assert resource.event_sets == {"offline": "7001"}
    assert settings.events_event_sets == SIM_EVENT_SETS  # the simulator's, against the simulator
