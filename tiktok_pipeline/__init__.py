"""Near-real-time TikTok performance signals from TikTok's official APIs (Dagster, DuckDB, Polars)."""

import warnings as _warnings

DAGSTER_LABEL_WARNINGS = r".* is currently in (beta|preview), and may have breaking changes"
"""Dagster's BetaWarning and PreviewWarning texts ("Parameter `pool` of function `asset` is currently in beta, ...").

Our definitions use features Dagster labels beta or preview (``backfill_policy``, ``pool``, partitioned
``AssetCheckSpec``...), and Dagster warns for each of them in every process that loads the code: the code
server, each run and step worker, every in-process ``materialize``. That was a seventh of ``make dev``'s
terminal. The filter is installed here because this package's ``__init__`` is the first of our modules
any of those processes imports; it matches the message rather than ``dagster.BetaWarning`` so that
importing the package (the light ``tiktok-pipeline`` CLI does) never imports Dagster.
"""

_warnings.filterwarnings("ignore", message=DAGSTER_LABEL_WARNINGS)
