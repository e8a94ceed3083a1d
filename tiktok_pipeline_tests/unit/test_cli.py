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


def test_tokens_add_stores_the_refresh_expiry_tiktok_gave_never_an_assumed_one(tmp_path, monkeypatch, capsys):
    import json
    from datetime import datetime, timedelta

    store_path = tmp_path / "tokens.json"
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(store_path))
    store = TokenStore(store_path)

    def add(stdin: str, *argv: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return main(["tokens", "add", *argv])

    answer = {
        "access_token": "act.from-login-kit",
        "expires_in": 86400,
        "open_id": "o-2",
        "refresh_token": "rft.from-login-kit",
        "refresh_expires_in": 10 * 86400,
        "scope": "user.info.basic,video.list",
        "token_type": "Bearer",
    }
    now = datetime.now(UTC)
    assert add(json.dumps(answer), "alice") == 0  # TikTok's token answer, as the callback received it
    stored = store.get("alice")
    assert abs(stored.refresh_expires_at - (now + timedelta(days=10))) < timedelta(seconds=5)
    assert stored.open_id == "o-2" and stored.access_token.get_secret_value() == "act.from-login-kit"
    assert not stored.needs_refresh(now) and stored.scope == "user.info.basic,video.list"

    assert add("rft.bare\n", "bob", "--refresh-expires-in", "3600") == 0
    assert abs(store.get("bob").refresh_expires_at - (now + timedelta(hours=1))) < timedelta(seconds=5)
    assert add("rft.bare\n", "carol") == 0  # unknown until TikTok says so at the first refresh: not 180 days
    assert store.get("carol").refresh_expires_at is None
    assert "rft." not in capsys.readouterr().out

    store.mark_reauthorize("alice", "invalid_grant, log_id=x")
    assert add(json.dumps(answer), "alice") == 0 and store.get("alice").reauthorize is None  # new tokens: reset

    refused = {"error": "invalid_grant", "error_description": "Authorization code is expired.", "log_id": "2026"}
    assert add(json.dumps(refused), "dave") == 2 and store.get("dave") is None
    assert "invalid_grant" in capsys.readouterr().err
    assert add("rft.bare\n", "erin", "--refresh-expires-in", "-5") == 2
