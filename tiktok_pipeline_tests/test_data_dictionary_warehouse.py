"""After every table-writing asset has run once on a temporary warehouse, its tables, views and columns are exactly
the data dictionary's (docs/data-dictionary.md, generated from the table declarations)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.governance.dictionary import DICTIONARY_PATH
from tiktok_pipeline.simulator.business.shop import sample_orders, write_orders
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key
from tiktok_pipeline_tests.alerts.test_alert_job import CHECK_ALERT, run_alerts
from tiktok_pipeline_tests.business_api.test_events_end_to_end import materialize as materialize_conversions
from tiktok_pipeline_tests.conftest import T0, alerts_resource, open_warehouse
from tiktok_pipeline_tests.test_ad_assets import materialize_ads
from tiktok_pipeline_tests.test_assets import materialize_range
from tiktok_pipeline_tests.test_current_state import refresh
from tiktok_pipeline_tests.test_live_intake import live_on, materialize_live
from tiktok_pipeline_tests.test_retention import roll_up
from tiktok_pipeline_tests.unit import test_live_events as live_lines

SECTION = re.compile(r"^## `(\w+)`$")
ROW = re.compile(r"^\| `(\w+)` \| `([^`]+)` \|")


def documented() -> dict[str, dict[str, str]]:
    """Table → {column: type} as the committed dictionary lists them (read from the Markdown, not the declarations)."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in DICTIONARY_PATH.read_text(encoding="utf-8").splitlines():
        if heading := SECTION.match(line):
            current = tables.setdefault(heading.group(1), {})
        elif current is not None and (row := ROW.match(line)):
            current[row.group(1)] = row.group(2)
    return tables


def materialised(settings) -> dict[str, dict[str, str]]:
    """Table → {column: type} of every table and view in the warehouse (information_schema)."""
    with open_warehouse(settings) as con:
        rows = con.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_catalog = current_database() AND table_schema = current_schema()
               ORDER BY table_name, ordinal_position"""
        ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, {})[column] = kind
    return tables


def differences(found: dict[str, dict[str, str]], listed: dict[str, dict[str, str]]) -> list[str]:
    """What the warehouse holds that the dictionary does not list, and the reverse, by name."""
    problems = [f"table {t} is in the warehouse, not in the dictionary" for t in sorted(set(found) - set(listed))]
    problems += [f"table {t} is in the dictionary, not in the warehouse" for t in sorted(set(listed) - set(found))]
    for table in sorted(set(found) & set(listed)):
        have, doc = found[table], listed[table]
        problems += [f"{table}.{c} is in the warehouse, not in the dictionary" for c in have if c not in doc]
        problems += [f"{table}.{c} is in the dictionary, not in the warehouse" for c in doc if c not in have]
        problems += [
            f"{table}.{c} is {have[c]} in the warehouse but {doc[c]} in the dictionary"
            for c in have
            if c in doc and have[c] != doc[c]
        ]
        if [c for c in have if c in doc] != [c for c in doc if c in have]:
            problems.append(f"{table}: columns in another order than the dictionary's")
    return problems


@pytest.mark.both_backends
def test_a_fully_materialised_warehouse_holds_exactly_the_dictionarys_tables_and_columns(settings, tmp_path):
    write_orders(tmp_path / "incoming" / "export.jsonl", sample_orders(T0, T0 + WINDOW, seed=3, per_hour=60))
    settings = live_on(settings, tmp_path).replace(  # every source on, the opt-in ones too (their tables)
        conversions__conversions_dir=tmp_path / "incoming", provider__enabled=True
    )
    (tmp_path / "intake" / "stream.jsonl").write_bytes(live_lines.line(live_lines.event("comment")))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    runs = [
        materialize_range(settings, T0, T0, instance=instance),  # collect + process
        materialize_ads(settings, T0),
        materialize_conversions(defs, instance, T0),
        roll_up(settings, instance, "2026-11-20"),
        *run_alerts(settings, instance, [CHECK_ALERT], alerts_resource()),
        materialize_live(settings, window_key(latest_closed_window(datetime.now(UTC))), instance),
        dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.assets("quarantined_records", "creator_consent"),
            resources=dict(defs.resources),
            instance=instance,
        ),
        dg.materialize(  # raw_shop_orders (and shop_order_quarantine), shop_sku_sales: before the feed, which reads them
            list(defs.assets),
            selection=dg.AssetSelection.groups("shop"),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(T0),
        ),
        dg.materialize(  # creative_swap_recommendations; merchandising_feed and its push ledger; pacing_recommendations
            # and budget_changes (its outbox)
            list(defs.assets),
            selection=dg.AssetSelection.assets(
                "creative_swap_recommendations", "merchandising_feed", "pacing_recommendations"
            ),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(T0),
        ),
    ]
    assert all(run.success for run in runs)
    refresh(settings, instance)  # video_current_state and its view top_movers_last_hour

    found, listed = materialised(settings), documented()
    assert len(listed) >= 17
    assert not differences(found, listed), "\n".join(differences(found, listed))


def test_differences_are_reported_by_name():
    listed = {"a": {"x": "BIGINT", "y": "VARCHAR"}, "b": {"z": "DOUBLE"}}
    found = {"a": {"x": "INTEGER", "w": "VARCHAR"}, "c": {"q": "BIGINT"}}
    assert differences(found, listed) == [
        "table c is in the warehouse, not in the dictionary",
        "table b is in the dictionary, not in the warehouse",
        "a.w is in the warehouse, not in the dictionary",
        "a.y is in the dictionary, not in the warehouse",
        "a.x is INTEGER in the warehouse but BIGINT in the dictionary",
    ]
