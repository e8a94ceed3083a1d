"""``tiktok-pipeline live serve``: the LIVE webhook, only for a switched-on and admitted ``live_events`` source."""

from __future__ import annotations

import sys

from tiktok_pipeline.governance.admission import sources_in_use
from tiktok_pipeline.governance.risk import SourceRefused, admit_sources
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.ingest.collect.live_webhook import PATH, server
from tiktok_pipeline.settings import LIVE_INTAKE_SWITCH, load_settings


def serve_live_webhook(host: str, port: int) -> int:
    """Serve until interrupted; 2 when the intake is off or the source is refused (the reason on stderr)."""
    settings = load_settings()
    if settings.live.intake_dir is None:
        print(f"tiktok-pipeline live serve: the LIVE intake is off: set {LIVE_INTAKE_SWITCH}", file=sys.stderr)
        return 2
    try:
        admit_sources(sources_in_use(SOURCES, settings.live.switched_on()), settings.risk_acceptances_path)
    except SourceRefused as exc:
        print(f"tiktok-pipeline live serve: {exc}", file=sys.stderr)
        return 2
    httpd = server(settings.live.intake_dir, host, port)
    print(
        f"UNOFFICIAL SOURCE live_events: POST JSON lines to http://{host}:{httpd.server_address[1]}{PATH};"
        f" appended under {settings.live.intake_dir}/webhook/",
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
