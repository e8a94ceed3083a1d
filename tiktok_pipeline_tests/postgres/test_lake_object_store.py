"""A lake whose data is on object storage (``s3://``): DuckDB's httpfs extension is loaded from its signed wheel and
signs every request with the credentials of the environment (what a Kubernetes Secret provides), which no error
message quotes.

There is no S3 service here: the endpoint is a local HTTP server that records each request and refuses it (403), as
S3 does for a key it does not know. That shows where the Parquet files go and how they are signed, not that a real
bucket accepts them (deploy/README.md says what was not verified).
"""

import http.server
import threading
from collections.abc import Iterator

import duckdb
import pytest

from tiktok_pipeline.settings import Settings
from tiktok_pipeline.warehouse import backends
from tiktok_pipeline.warehouse.io import Write, connect, replace_windows
from tiktok_pipeline.warehouse.tables import DISPLAY_API_QUARANTINE
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.pg import Lake
from tiktok_pipeline_tests.postgres.test_ducklake_backend import W0, _rows

KEY_ID = "AKIATIKTOKTESTKEY01"
SECRET = "s3cr3t-never-logged-9f8e7d"


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []

    def _refuse(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization") or ""))
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """A local endpoint that records and refuses every request, and the AWS credentials in the environment."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    seen: list[tuple[str, str, str]] = []
    _Recorder.seen = seen
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "eu-west-1",
        "DUCKDB_S3_ENDPOINT": f"127.0.0.1:{server.server_port}",
        "DUCKDB_S3_USE_SSL": "false",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_lake_on_s3_loads_httpfs_and_signs_with_the_environments_credentials(
    lake: Lake, s3_endpoint: list[tuple[str, str, str]]
) -> None:
    target = Settings(warehouse_url=lake.url, lake_data_path="s3://tiktok-lake/warehouse/").warehouse
    with connect(target) as connection:
        loaded = dict(
            connection.execute(
                "SELECT extension_name, loaded FROM duckdb_extensions() WHERE extension_name IN ('httpfs', 'ducklake')"
            ).fetchall()
        )
        assert loaded == {"httpfs": True, "ducklake": True}
        assert connection.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone() == (False,)
        # A local endpoint has no bucket.host name: path-style URLs, as for MinIO (see deploy/README.md).
        connection.execute("SET GLOBAL s3_url_style = 'path'")
    assert backends.extension_file("httpfs").is_file()
    rows = Write(DISPLAY_API_QUARANTINE, _rows(W0, "to s3", n=5_000))  # more than DuckLake inlines in its catalog
    with pytest.raises(duckdb.Error) as caught, connect(target) as connection:
        replace_windows(connection, W0, W0 + WINDOW, rows)
    assert SECRET not in str(caught.value)
    puts = [(path, auth) for method, path, auth in s3_endpoint if method == "PUT"]
    assert puts, f"no Parquet file was sent to the endpoint: {s3_endpoint}"
    for path, auth in puts:
        assert path.startswith("/tiktok-lake/warehouse/") and path.endswith(".parquet"), path
        assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/") and "/eu-west-1/s3/aws4_request" in auth
        assert SECRET not in auth


def test_a_lake_in_a_folder_does_not_load_httpfs(tmp_path, lake: Lake) -> None:
    target = Settings(warehouse_url=lake.url, lake_data_path=str(tmp_path / "data")).warehouse
    with connect(target) as connection:
        (loaded,) = connection.execute(
            "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchone() or (False,)
    assert loaded is False
