"""Test-only start-up hook of a pipeline process a test starts with this folder first on ``PYTHONPATH``.

With ``PIPELINE_TEST_PAUSE_IN_WRITE`` set to a file path, the process's first partition replacement
(:func:`tiktok_pipeline.warehouse.io.replace_windows`) runs its DELETE and INSERT statements inside its transaction,
then writes that file (its process id) and sleeps instead of committing: the test kills it there, mid-transaction.
Python imports ``sitecustomize`` at start-up from the first folder of ``sys.path`` that has one; nothing in the
pipeline imports this module, and without the variable it changes nothing.

With ``PIPELINE_TEST_SQLITE_NO_FSYNC`` set (by :func:`tiktok_pipeline_tests.pipeline_env.pipeline_env`), Dagster's
SQLite storages in the process commit without fsync (:mod:`tiktok_pipeline_tests.sqlite_no_fsync`).
"""

import os
import time
from pathlib import Path

PAUSE_ENV = "PIPELINE_TEST_PAUSE_IN_WRITE"

if os.environ.get("PIPELINE_TEST_SQLITE_NO_FSYNC"):
    from tiktok_pipeline_tests.sqlite_no_fsync import install

    install()

if os.environ.get(PAUSE_ENV):
    from tiktok_pipeline.warehouse import io

    _prepare = io.prepare_window_writes

    def _paused(start, end, *writes):
        """``prepare_window_writes`` whose statements, once run, announce it and never return (no COMMIT)."""
        replace = _prepare(start, end, *writes)

        def body(connection):
            replace(connection)
            marker = Path(os.environ[PAUSE_ENV])
            marker.with_suffix(".tmp").write_text(str(os.getpid()))
            marker.with_suffix(".tmp").rename(marker)
            time.sleep(3600)

        return body

    io.prepare_window_writes = _paused
