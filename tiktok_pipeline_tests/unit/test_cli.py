"""``tiktok-pipeline tokens add`` stores a refresh token read from standard input."""

import io
from datetime import UTC

from tiktok_pipeline.cli import main
from tiktok_pipeline.sources.display_api.tokens import TokenStore


def test_tokens_add_reads_stdin_and_forces_a_refresh(tmp_path, monkeypatch, capsys):
    store_path = tmp_path / "tokens.json"
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(store_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("rft.from-login-kit\n"))
    assert main(["tokens", "add", "alice", "--open-id", "o-1"]) == 0
    assert "rft.from-login-kit" not in capsys.readouterr().out
    stored = TokenStore(store_path).get("alice")
    assert stored.refresh_token.get_secret_value() == "rft.from-login-kit" and stored.open_id == "o-1"
    from datetime import datetime

    assert stored.needs_refresh(datetime.now(UTC))

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["tokens", "add", "bob"]) == 2


def test_a_bad_setting_stops_every_command_with_the_variable_named(monkeypatch, capsys):
    """`make dev` with a bad value does not open a UI whose code location failed to load."""
    monkeypatch.setenv("TIKTOK_PARTITIONS_START", "yesterday")
    monkeypatch.setattr("os.execvp", lambda *args: (_ for _ in ()).throw(AssertionError("dagster dev was started")))
    for argv in (["dev"], ["sql", "select 1"], ["tokens", "add", "alice"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "TIKTOK_PARTITIONS_START='yesterday'" in err and "Traceback" not in err
