"""The data dictionary (docs/data-dictionary.md) is the one generated from the table declarations, and each
declaration's owner and retention agree with the asset owners and the retention rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from tiktok_pipeline.cli import main
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.governance.dictionary import DICTIONARY_PATH, render, stale
from tiktok_pipeline.governance.retention import PRUNED_TABLES, RetentionDeclarationError, retention_rule
from tiktok_pipeline.warehouse.tables import ALERTS, ALL_TABLES, RAW_VIDEO_SNAPSHOTS, Retention

WRITER_KEYS = ("dagster/table_name", "quarantine_table", "top_movers_view", "ledger_table", "outbox_table")
"""Asset metadata naming a table the asset writes (its own, its quarantine table, its view, its delivery ledger, its
outbox)."""
APPENDED_BY_EVERY_STEP = {"api_call_log", "schema_versions"}  # schema_versions: by the migration before a write
"""Tables every step that makes outbound calls appends to (no single writing asset): their owner answers for them."""


def test_the_committed_dictionary_is_the_generated_one():
    assert stale() is None, stale()


def test_check_exits_1_on_a_stale_file_and_names_what_differs(tmp_path: Path, capsys):
    path = tmp_path / "data-dictionary.md"
    assert main(["docs", "dictionary", "--check", "--output", str(path)]) == 1  # missing
    assert main(["docs", "dictionary", "--output", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == render() == DICTIONARY_PATH.read_text(encoding="utf-8")
    assert main(["docs", "dictionary", "--check", "--output", str(path)]) == 0
    path.write_text(render().replace("| `log_id` | `VARCHAR` |", "| `log_id` | `BIGINT` |", 1), encoding="utf-8")
    capsys.readouterr()
    assert main(["docs", "dictionary", "--check", "--output", str(path)]) == 1
    out = capsys.readouterr().out
    assert "out of date" in out and "-| `log_id` | `BIGINT` |" in out and "+| `log_id` | `VARCHAR` |" in out


def test_every_table_and_view_is_listed_once_with_its_columns():
    names = [spec.name for spec in ALL_TABLES]
    assert len(names) == len(set(names))
    text = render()
    for spec in ALL_TABLES:
        assert f"## `{spec.name}`" in text
        assert all(f"| `{c.name}` | `{c.type}` |" in text for c in spec.columns)
    assert {s.name for s in ALL_TABLES if s.view} == {"quarantined_records", "top_movers_last_hour"}


def test_each_tables_owner_is_the_owner_of_the_asset_that_writes_it(settings, tmp_path):
    from tiktok_pipeline_tests.test_live_intake import live_on  # the LIVE tables' writers load only when it is on

    writers: dict[str, list[str]] = {}
    every_source = live_on(settings, tmp_path).replace(provider__enabled=True)  # the provider's writers too
    for asset in build_definitions(every_source).assets or []:
        specs = asset.specs if isinstance(asset, dg.AssetsDefinition) else [asset]  # alerts: an AssetSpec
        for spec in specs:
            for key in WRITER_KEYS:
                table = spec.metadata.get(key)
                if isinstance(table, str):
                    writers.setdefault(table, []).extend(spec.owners)
    owned = {spec.name for spec in ALL_TABLES} - APPENDED_BY_EVERY_STEP
    assert set(writers) == owned, "a table without a writing asset, or the reverse"
    wrong = {
        s.name: (s.owner, writers[s.name]) for s in ALL_TABLES if s.name in owned and set(writers[s.name]) != {s.owner}
    }
    assert not wrong, wrong


def test_retention_comes_from_the_rules_and_a_contradicting_declaration_is_refused():
    assert {s.name for s in ALL_TABLES if s.retention is Retention.WINDOW_ROWS} == set(PRUNED_TABLES)
    assert "TIKTOK_RETENTION_DAYS (default 35)" in retention_rule(RAW_VIDEO_SNAPSHOTS)
    with pytest.raises(RetentionDeclarationError, match="raw_video_snapshots declares retention kept but is in"):
        retention_rule(replace(RAW_VIDEO_SNAPSHOTS, retention=Retention.KEPT))
    with pytest.raises(RetentionDeclarationError, match="alerts declares retention window_rows but is not in"):
        retention_rule(replace(ALERTS, retention=Retention.WINDOW_ROWS))
    with pytest.raises(RetentionDeclarationError, match="only a view"):
        retention_rule(replace(ALERTS, view=True))


def test_every_tables_sources_are_declared_sources_or_local_inputs():
    """A table's sources name the declared outside sources (governance/sources.py) or the pipeline's own inputs."""
    from tiktok_pipeline.governance.sources import SOURCES
    from tiktok_pipeline.warehouse.tables import ALL_TABLES

    local_inputs = {"tracking_registry", "order_exports"}
    unknown = {(spec.name, source) for spec in ALL_TABLES for source in spec.sources} - {
        (spec.name, source) for spec in ALL_TABLES for source in spec.sources if source in {*SOURCES, *local_inputs}
    }
    assert not unknown, f"sources neither declared in SOURCES nor local inputs: {sorted(unknown)}"
