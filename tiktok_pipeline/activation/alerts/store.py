"""The ``alerts`` table: what was composed, where it went, and what still waits for delivery."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from tiktok_pipeline.activation.alerts.delivery import DeliveryResult
from tiktok_pipeline.activation.alerts.models import Alert
from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import ALERTS


def already_recorded(connection: duckdb.DuckDBPyConnection, alert_id: str) -> bool:
    """True when this alert was composed before (delivered or not): it is never sent twice."""
    if not table_exists(connection, ALERTS.name):
        return False
    return bool(connection.execute(f"SELECT 1 FROM {ALERTS.name} WHERE alert_id = ?", [alert_id]).fetchall())


def record_alert(
    connection: duckdb.DuckDBPyConnection,
    alert: Alert,
    configured: Sequence[str],
    results: list[DeliveryResult],
    previous_attempts: int = 0,
    already_delivered: tuple[str, ...] = (),
) -> None:
    """Insert or replace the alert's row in one transaction (from Arrow, like every warehouse write), re-run whole
    if its commit conflicts with another writer's (DuckLake)."""
    errors = [r.error for r in results if r.error]
    frame = ALERTS.conform(
        pl.DataFrame(
            {
                "alert_id": [alert.alert_id],
                "kind": [alert.kind],
                "severity": [alert.severity],
                "window_key": [dict(alert.facts).get("Window")],
                "title": [alert.title],
                "summary": [alert.summary],
                "link_url": [alert.link_url],
                "created_at": [alert.created_at.replace(tzinfo=None)],
                "destinations": [",".join(configured)],
                "delivered": [",".join([*already_delivered, *(r.kind for r in results if r.delivered)])],
                "undelivered": [",".join(r.kind for r in results if not r.delivered)],
                "attempts": [previous_attempts + sum(r.attempts for r in results)],
                "last_error": [errors[-1] if errors else None],
                "payload": [alert.model_dump_json()],
            }
        )
    )
    arrow = frame.to_arrow()

    def replace(connection: duckdb.DuckDBPyConnection) -> None:
        create_or_extend(connection, ALERTS)
        connection.execute(f"DELETE FROM {ALERTS.name} WHERE alert_id = ?", [alert.alert_id]).fetchall()
        connection.register("_alert", arrow)
        try:
            connection.execute(f"INSERT INTO {ALERTS.name} BY NAME SELECT * FROM _alert").fetchall()
        finally:
            connection.unregister("_alert")

    write_transaction(connection, replace)


def undelivered_alerts(
    connection: duckdb.DuckDBPyConnection, limit: int = 20
) -> list[tuple[Alert, list[str], tuple[str, ...], int]]:
    """Alerts some destination has not accepted yet: (alert, owed, already delivered, attempts so far)."""
    if not table_exists(connection, ALERTS.name):
        return []
    rows = read_frame(
        connection,
        f"""SELECT payload, undelivered, delivered, attempts FROM {ALERTS.name}
            WHERE undelivered <> '' ORDER BY created_at LIMIT ?""",
        [limit],
    )
    return [
        (Alert.model_validate_json(p), u.split(","), tuple(d.split(",")) if d else (), int(a))
        for p, u, d, a in rows.iter_rows()
    ]
