"""Composing alerts from check evaluations, failed runs and velocity's top movers (pure functions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import polars as pl

from tiktok_pipeline.activation.alerts.models import Alert, Severity


def asset_url(ui_url: str, asset: str, view: str = "") -> str:
    """The Dagster UI page of an asset (``view="checks"`` for its checks tab)."""
    return f"{ui_url.rstrip('/')}/assets/{quote(asset)}" + (f"?view={view}" if view else "")


def check_alert(
    *,
    asset: str,
    check: str,
    window_key: str | None,
    severity: Severity,
    description: str,
    failed_rows: int | None,
    run_id: str | None,
    ui_url: str,
    now: datetime,
) -> Alert:
    """An alert for one failed asset check evaluation."""
    facts = [("Asset", asset), ("Check", check), ("Window", window_key or "(unpartitioned)"), ("Severity", severity)]
    if failed_rows is not None:
        facts.append(("Failing rows", str(failed_rows)))
    if run_id:
        facts.append(("Run", run_id[:8]))
    return Alert(
        alert_id=f"check:{asset}:{check}:{window_key or '-'}:{severity}",
        kind="check",
        severity=severity,
        title=f"{severity}: check {check} failed on {asset}" + (f" ({window_key})" if window_key else ""),
        summary=description or f"The {check} check of {asset} failed.",
        facts=facts,
        link_url=asset_url(ui_url, asset, "checks"),
        link_text="Open the check in Dagster",
        created_at=now,
    )


def run_url(ui_url: str, run_id: str) -> str:
    """The Dagster UI page of a run."""
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id)}"


def run_failure_alert(
    *,
    run_id: str,
    job_name: str,
    window_key: str | None,
    step: str | None,
    reason: str,
    ui_url: str,
    now: datetime,
) -> Alert:
    """An alert for one failed run (whether or not its checks ran): the job, window, failed step and why."""
    facts = [("Job", job_name), ("Window", window_key or "(unpartitioned)"), ("Run", run_id[:8])]
    if step:
        facts.append(("Failed step", step))
    return Alert(
        alert_id=f"run:{run_id}",
        kind="run",
        severity="ERROR",
        title=f"ERROR: run of {job_name} failed" + (f" ({window_key})" if window_key else ""),
        summary=reason or f"A run of {job_name} failed.",
        facts=facts,
        link_url=run_url(ui_url, run_id),
        link_text="Open the run in Dagster",
        created_at=now,
    )


def token_alert(
    *, creator: str, expires_at: datetime | None, refused: str, severity: Severity, ui_url: str, now: datetime
) -> Alert:
    """An alert naming a creator who must authorise the app again: their refresh token ends at ``expires_at``
    (TikTok's fixed horizon, not extended by refreshing), or TikTok already refused it (``refused``: its code and
    log_id). The fix is the creator's: sign in again (Login Kit), then ``tiktok-pipeline tokens add``."""
    fix = (
        f"Ask {creator} to authorise the app again (Login Kit), then store the new tokens with "
        f"`tiktok-pipeline tokens add {creator}`."
    )
    if expires_at is None:
        title = f"{severity}: creator {creator} must re-authorise the app"
        summary = f"TikTok refused {creator}'s refresh token ({refused}): their videos are no longer polled. {fix}"
        facts = [("Creator", creator), ("TikTok's answer", refused)]
        alert_id = f"token:{creator}:refused:{refused}"
    else:
        days = (expires_at - now).total_seconds() / 86400
        when = f"ended on {expires_at:%Y-%m-%d %H:%M} UTC" if days <= 0 else f"ends in {days:.1f} days"
        title = f"{severity}: {creator}'s TikTok authorisation {when}"
        summary = (
            f"{creator}'s refresh token {when} ({expires_at.isoformat()}); refreshing does not extend it, and after "
            f"it their videos are no longer polled. {fix}"
        )
        facts = [("Creator", creator), ("Refresh token ends", f"{expires_at:%Y-%m-%d %H:%M} UTC")]
        alert_id = f"token:{creator}:expires:{expires_at:%Y-%m-%d}"
    return Alert(
        alert_id=alert_id[:240],
        kind="token",
        severity=severity,
        title=title,
        summary=summary,
        facts=facts,
        link_url=ui_url.rstrip("/"),
        link_text="Open Dagster",
        created_at=now,
    )


def consent_alert(*, creator: str, revoked_at: datetime, why: str, ui_url: str, now: datetime) -> Alert:
    """An alert naming a creator whose grant was revoked (``why``: how we learnt it and TikTok's reason): they are no
    longer polled, and their data is kept unless purged (``tiktok-pipeline creators purge``). Never a token."""
    return Alert(
        alert_id=f"consent:{creator}:revoked:{revoked_at:%Y%m%dT%H%M%S}"[:240],
        kind="consent",
        severity="WARN",
        title=f"WARN: {creator} revoked the app's access to their TikTok account",
        summary=(
            f"{creator}'s authorisation was revoked at {revoked_at:%Y-%m-%d %H:%M:%S} UTC ({why}). Their videos are"
            " no longer polled; their data is kept under the declared retention. To delete it:"
            f" `tiktok-pipeline creators purge {creator} --dry-run`, then without --dry-run."
        ),
        facts=[("Creator", creator), ("Revoked", f"{revoked_at:%Y-%m-%d %H:%M:%S} UTC"), ("How", why)],
        link_url=f"{ui_url.rstrip('/')}/assets/creator_consent",
        link_text="Open creator_consent in Dagster",
        created_at=now,
    )


def movers_digest(window_key: str, movers: pl.DataFrame, threshold: float, ui_url: str, now: datetime) -> Alert | None:
    """One digest of the videos whose momentum reached ``threshold`` in a window; None when there are none.

    ``movers`` needs video_id, creator_username, views_per_minute, momentum, campaign_ids, product_skus.
    """
    hot = movers.filter(pl.col("momentum") >= threshold).sort("momentum", descending=True)
    if hot.is_empty():
        return None
    rows: list[list[str]] = [
        [
            r["video_id"],
            r["creator_username"],
            f"{r['momentum']:.1f}",
            f"{r['views_per_minute']:.0f}",
            ", ".join(r["campaign_ids"] or []),
            ", ".join(r["product_skus"] or []),
        ]
        for r in hot.head(10).iter_rows(named=True)
    ]
    top: dict[str, Any] = hot.row(0, named=True)
    return Alert(
        alert_id=f"business:video_velocity:momentum:{window_key}:INFO",
        kind="business",
        severity="INFO",
        title=f"{hot.height} video{'s' if hot.height != 1 else ''} taking off ({window_key} UTC)",
        summary=(
            f"Momentum at or above {threshold:g} in the window {window_key}. Fastest: video {top['video_id']} by "
            f"{top['creator_username']} at {top['views_per_minute']:.0f} views/min ({top['momentum']:.1f}x its lifetime rate)."
        ),
        facts=[("Window", window_key), ("Videos over threshold", str(hot.height)), ("Threshold", f"{threshold:g}")],
        table_columns=["video", "creator", "momentum", "views/min", "campaigns", "SKUs"],
        table_rows=rows,
        link_url=asset_url(ui_url, "video_velocity"),
        link_text="Open video_velocity in Dagster",
        created_at=now,
    )
