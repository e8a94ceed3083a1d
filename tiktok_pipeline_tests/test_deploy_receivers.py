"""The webhook receivers' Kubernetes manifest (deploy/helm/webhook-receivers.yaml): every receiver runs a command
the CLI has, with the code location's image user, settings and shared volume, its secrets only from a Secret, a
probe on its health path; and the container's command, run here with the manifest's environment, starts, answers
its probe, and refuses to start without the app's secret against the real API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tiktok_pipeline.sources.display_api.webhooks import sign
from tiktok_pipeline.sources.shop_api.signing import push_signature
from tiktok_pipeline_tests.test_deploy import (
    DEPLOY,
    PVC_PATH,
    README_PATH,
    SECRET_ENV_VARS,
    code_location,
    load_values,
    unknown_tiktok_variables,
)

RECEIVERS_PATH = DEPLOY / "helm" / "webhook-receivers.yaml"
SHARED_MOUNT = "/var/lib/tiktok-pipeline"


def manifests() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(RECEIVERS_PATH.read_text()) if doc]


def deployments() -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == "Deployment"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def plain_env(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment)["env"] if "value" in e}


def test_every_receiver_is_one_replica_on_the_shared_volume_as_the_image_user_with_a_service():
    values = load_values()
    location = code_location(values)
    pvc = yaml.safe_load(PVC_PATH.read_text())["metadata"]["name"]
    services = {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == "Service"}
    assert deployments(), "no receiver declared"
    for deployment in deployments():
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", name
        pod = spec["template"]["spec"]
        assert pod["securityContext"] == location["podSecurityContext"], name
        assert container(deployment)["securityContext"] == location["securityContext"], name
        image = container(deployment)["image"]
        assert image == f"{location['image']['repository']}:{location['image']['tag']}", name
        (volume,) = pod["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == pvc
        (mount,) = container(deployment)["volumeMounts"]
        assert mount["mountPath"] == SHARED_MOUNT and mount["name"] == volume["name"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"] == labels
        service = services[name]
        assert service["spec"]["selector"] == labels
        assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_receivers_share_the_code_locations_settings_and_read_secrets_only_from_a_secret():
    location_env = code_location(load_values())["env"]
    for deployment in deployments():
        env = container(deployment)["env"]
        names = {e["name"] for e in env}
        assert unknown_tiktok_variables(names) == set()
        for entry in env:
            if entry["name"] in SECRET_ENV_VARS:
                assert "value" not in entry, f"{entry['name']} written in clear"
                assert entry["valueFrom"]["secretKeyRef"]["name"] == "tiktok-pipeline-secrets"
        for name, value in plain_env(deployment).items():
            # the same landing zone, token store (the consent ledger is beside it) and API as the pipeline; a
            # setting the code location leaves unset (the optional shop's) is the receiver's own
            assert location_env.get(name, value) == value, f"{name} differs from the code location's"
        assert plain_env(deployment)["TIKTOK_LANDING_DIR"] == location_env["TIKTOK_LANDING_DIR"]


def test_each_receivers_command_is_a_cli_command_with_a_health_probe():
    from tiktok_pipeline.cli import main

    for deployment in deployments():
        spec = container(deployment)
        command = spec["command"]
        assert command[0] == "tiktok-pipeline"
        with pytest.raises(SystemExit) as help_exit:  # argparse knows the command and its options
            main([*command[1:], "--help"])
        assert help_exit.value.code == 0
        port = next(p for p in spec["ports"] if p["name"] == "http")["containerPort"]
        assert command[command.index("--port") + 1] == str(port)
        assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable by the Service
        for probe in ("readinessProbe", "livenessProbe"):
            assert spec[probe]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_the_deploy_readme_applies_the_manifest():
    assert f"apply -f deploy/helm/{RECEIVERS_PATH.name}" in README_PATH.read_text()


def _pod_env(deployment: dict[str, Any], root: Path, secrets: dict[str, str]) -> dict[str, str]:
    """The container's environment here: its plain values (the shared volume moved under ``root``), the given
    Secret keys, and nothing of this process's own TIKTOK_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "AWS_"))}
    for name, value in plain_env(deployment).items():
        env[name] = value.replace(SHARED_MOUNT, str(root)) if value.startswith(SHARED_MOUNT) else value
    env.update(secrets)
    env["TIKTOK_WAREHOUSE_PATH"] = str(root / "warehouse.duckdb")
    return env


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tiktok_pipeline.cli", *command[1:]]
    args[args.index("--port") + 1] = "0"
    args[args.index("--host") + 1] = "127.0.0.1"
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def _receiver(name: str, secret: str, banner: str, tmp_path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """The manifest's deployment ``name`` and the URL of its command, started with the manifest's environment and
    ``secret`` set (after checking that, without it, against the real API, the command refuses naming ``secret`` and
    starts no server), printing ``banner`` with its URL and answering its probe; killed on leaving."""
    (deployment,) = [d for d in deployments() if d["metadata"]["name"] == name]
    command = container(deployment)["command"]
    refused = _start(command, _pod_env(deployment, tmp_path, {}))
    _, err = refused.communicate(timeout=60)
    assert refused.returncode != 0 and secret in err
    process = _start(command, _pod_env(deployment, tmp_path, {secret: "test-only-secret"}))
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert f"{banner} at http://" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        assert httpx.get(url.rstrip("/") + "/healthz").status_code == 200
        yield deployment, url
    finally:
        process.kill()
        process.wait(10)


def test_the_display_receiver_starts_with_the_manifests_environment_and_lands_a_signed_delivery(tmp_path):
    with _receiver("tiktok-display-webhooks", "TIKTOK_CLIENT_SECRET", "webhook receiver", tmp_path) as (
        deployment,
        url,
    ):
        body = json.dumps(
            {
                "client_key": plain_env(deployment)["TIKTOK_CLIENT_KEY"],
                "event": "authorization.removed",
                "create_time": int(time.time()),
                "user_openid": "oid-someone",
                "content": json.dumps({"reason": 1}),
            }
        ).encode()
        signature = sign("test-only-secret", int(time.time()), body)
        assert httpx.post(url, content=body, headers={"TikTok-Signature": signature}).status_code == 200
        assert list((tmp_path / "landing").rglob("*.jsonl.gz")), "the delivery was not landed on the volume"


def test_the_shop_receiver_starts_with_the_manifests_environment_and_lands_a_signed_push(tmp_path):
    with _receiver("tiktok-shop-webhooks", "TIKTOK_SHOP_APP_SECRET", "push receiver", tmp_path) as (deployment, url):
        stamp = int(time.time())
        data = {"order_id": "570001", "order_status": "AWAITING_SHIPMENT", "update_time": stamp - 60}
        body = json.dumps(
            {"type": 1, "tts_notification_id": "n-1", "shop_id": "7494", "timestamp": stamp, "data": data}
        ).encode()
        key = plain_env(deployment)["TIKTOK_SHOP_APP_KEY"]
        forged = push_signature(key, "wrong-secret", body)
        assert httpx.post(url, content=body, headers={"Authorization": forged}).status_code == 401
        signed = push_signature(key, "test-only-secret", body)
        assert httpx.post(url, content=body, headers={"Authorization": signed}).status_code == 200
        assert list((tmp_path / "landing").rglob("*.jsonl.gz")), "the push was not landed on the volume"
