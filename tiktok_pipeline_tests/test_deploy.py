"""The Kubernetes deployment in deploy/: Helm values, the user-code image, the build context, the docs.

Nothing here builds the image or installs the chart (deploy/README.md, "What is verified here and
what is not"). What these tests establish, each with a check that the rule can fail:

- deploy/helm/values.yaml validates against the official chart's values.schema.json, vendored in
  deploy/helm/dagster-chart-values.schema.json;
- the instance blocks the chart renders from the values load in the installed Dagster with the
  intended limits, the same as deploy/dagster.yaml's;
- no secret is written in the values; every TIKTOK_* variable set anywhere in the deployment is a
  setting the code reads (a renamed setting breaks the test);
- the warehouse is a DuckLake: its URL (a conninfo with a password) comes from a Secret the README
  creates, its data path is on object storage, and the pods' environment parses into that lake;
- the image installs the hash-locked dependencies and runs as a numeric non-root user, and the
  build context keeps runtime state out.
"""

import copy
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tiktok_pipeline.settings import PROJECT_ROOT, Settings, environment_variables

DEPLOY = PROJECT_ROOT / "deploy"
VALUES_PATH = DEPLOY / "helm" / "values.yaml"
SCHEMA_PATH = DEPLOY / "helm" / "dagster-chart-values.schema.json"
PVC_PATH = DEPLOY / "helm" / "tiktok-data-pvc.yaml"
DOCKERFILE_PATH = DEPLOY / "Dockerfile"
DOCKERIGNORE_PATH = PROJECT_ROOT / ".dockerignore"
README_PATH = DEPLOY / "README.md"
INSTANCE_PATH = DEPLOY / "dagster.yaml"

# Environment variables the code reads as secrets (through dagster.EnvVar), not Settings fields.
SECRET_ENV_VARS = frozenset(
    {
        "TIKTOK_CLIENT_SECRET",
        "TIKTOK_BUSINESS_ACCESS_TOKEN",
        "TIKTOK_SLACK_WEBHOOK_URL",
        "TIKTOK_TEAMS_WEBHOOK_URL",
        "TIKTOK_MERCH_WEBHOOK_URL",
        "TIKTOK_MERCH_WEBHOOK_SECRET",
        "TIKTOK_SHOP_APP_SECRET",
    }
)
SETTINGS_ENV_VARS = environment_variables()
# Settings whose value is a secret (a lake's conninfo holds a password): only ever from a Secret.
SECRET_SETTINGS = frozenset({"TIKTOK_WAREHOUSE_URL"})
# DuckDB's S3 client reads these from the environment: the bucket's keys, only ever from a Secret.
OBJECT_STORE_SECRETS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
# What test environments set for the pods' Secrets (never real values).
TEST_LAKE_URL = "ducklake:postgres:host=db dbname=tiktok_lake user=tiktok_lake password=test-only-not-a-secret"


def load_values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_PATH.read_text())


def code_location(values: dict[str, Any]) -> dict[str, Any]:
    """The one user deployment of the values (this project's code location)."""
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1, "expected exactly one code location"
    return deployments[0]


# --------------------------------------------------------------------------------------------------
# The chart's schema
# --------------------------------------------------------------------------------------------------

# The vendored schema refers to Kubernetes types by URL (kubernetesjsonschema.dev). They are never
# downloaded: each is resolved to this subset of the Kubernetes v1 API (the fields the API requires
# and the fields this deployment uses, closed where the full field list is short), or to an open
# schema for types the deployment does not set.
_CAPABILITIES = {
    "type": "object",
    "properties": {
        "add": {"type": "array", "items": {"type": "string"}},
        "drop": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
K8S_SUBSET: dict[str, dict[str, Any]] = {
    "io.k8s.api.core.v1.Volume": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "persistentVolumeClaim": {
                "type": "object",
                "required": ["claimName"],
                "properties": {"claimName": {"type": "string"}, "readOnly": {"type": "boolean"}},
                "additionalProperties": False,
            },
            "configMap": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "defaultMode": {"type": "integer"},
                    "optional": {"type": "boolean"},
                    "items": {"type": "array"},
                },
                "additionalProperties": False,
            },
        },
    },
    "io.k8s.api.core.v1.VolumeMount": {
        "type": "object",
        "required": ["name", "mountPath"],
        "properties": {
            "name": {"type": "string"},
            "mountPath": {"type": "string"},
            "readOnly": {"type": "boolean"},
            "recursiveReadOnly": {"type": "string"},
            "subPath": {"type": "string"},
            "subPathExpr": {"type": "string"},
            "mountPropagation": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.SecretEnvSource": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "optional": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.ConfigMapEnvSource": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "optional": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.LocalObjectReference": {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.EnvVar": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    "io.k8s.api.core.v1.PodSecurityContext": {
        "type": "object",
        "properties": {
            "runAsUser": {"type": "integer"},
            "runAsGroup": {"type": "integer"},
            "runAsNonRoot": {"type": "boolean"},
            "fsGroup": {"type": "integer"},
            "fsGroupChangePolicy": {"type": "string"},
            "supplementalGroups": {"type": "array", "items": {"type": "integer"}},
            "supplementalGroupsPolicy": {"type": "string"},
            "seccompProfile": {"type": "object"},
            "seLinuxOptions": {"type": "object"},
            "seLinuxChangePolicy": {"type": "string"},
            "appArmorProfile": {"type": "object"},
            "sysctls": {"type": "array"},
            "windowsOptions": {"type": "object"},
        },
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.SecurityContext": {
        "type": "object",
        "properties": {
            "runAsUser": {"type": "integer"},
            "runAsGroup": {"type": "integer"},
            "runAsNonRoot": {"type": "boolean"},
            "allowPrivilegeEscalation": {"type": "boolean"},
            "privileged": {"type": "boolean"},
            "readOnlyRootFilesystem": {"type": "boolean"},
            "capabilities": _CAPABILITIES,
            "procMount": {"type": "string"},
            "seccompProfile": {"type": "object"},
            "seLinuxOptions": {"type": "object"},
            "appArmorProfile": {"type": "object"},
            "windowsOptions": {"type": "object"},
        },
        "additionalProperties": False,
    },
    "io.k8s.api.core.v1.ResourceRequirements": {
        "type": "object",
        "properties": {
            "limits": {"type": "object", "additionalProperties": {"type": ["string", "integer", "number"]}},
            "requests": {"type": "object", "additionalProperties": {"type": ["string", "integer", "number"]}},
            "claims": {"type": "array"},
        },
        "additionalProperties": False,
    },
}


def _external_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("https://"):
            yield ref
        for child in node.values():
            yield from _external_refs(child)
    elif isinstance(node, list):
        for child in node:
            yield from _external_refs(child)


def _without_required(node: Any) -> Any:
    """The schema with every `required` dropped: an override file does not repeat the chart's defaults."""
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if not (k == "required" and isinstance(v, list))}
    if isinstance(node, list):
        return [_without_required(child) for child in node]
    return node


def chart_schema_validator() -> Draft202012Validator:
    """A validator for override values: the vendored chart schema, `required` dropped, K8s types local."""
    schema = json.loads(SCHEMA_PATH.read_text())
    documents: dict[str, dict[str, Any]] = {}
    for ref in sorted(set(_external_refs(schema))):
        uri, _, pointer = ref.partition("#")
        node = documents.setdefault(uri, {})
        parts = [part for part in pointer.split("/") if part]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        leaf = node.setdefault(parts[-1], {})
        if parts[:1] == ["definitions"] and len(parts) == 2:
            leaf.update(copy.deepcopy(K8S_SUBSET.get(parts[1], {})))
    registry = Registry().with_resources(
        (uri, Resource(contents=document, specification=DRAFT202012)) for uri, document in documents.items()
    )
    return Draft202012Validator(_without_required(schema), registry=registry)


def schema_errors(values: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in chart_schema_validator().iter_errors(values)
    ]


def test_vendored_schema_is_the_recorded_copy():
    """The vendored file is byte for byte the copy whose origin deploy/README.md records."""
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest in README_PATH.read_text(), (
        f"{SCHEMA_PATH.name} changed (sha256 {digest}): update its provenance note"
    )
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["title"] == "DagsterHelmValues"
    assert {"dagster-user-deployments", "runLauncher", "dagsterDaemon", "postgresql", "global"} <= set(
        schema["properties"]
    )


def test_values_validate_against_the_chart_schema():
    errors = schema_errors(load_values())
    assert errors == [], "\n".join(errors)


def _set(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    node: Any = changed
    keys = [int(k) if k.isdigit() else k for k in path.split("/")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("dagsterDaemon/runCoordinator/config/queuedRunCoordinator/maxConcurentRuns", 4, "maxConcurentRuns"),
        ("runLauncher/type", "K8sRunLaucher", "K8sRunLaucher"),
        ("dagster-user-deployments/deployments/0/port", "3030", "'3030' is not of type 'integer'"),
        (
            "dagster-user-deployments/deployments/0/env/TIKTOK_MAX_ATTEMPTS",
            5,
            "is not valid under any of the given schemas",
        ),
        ("runLauncher/config/k8sRunLauncher/runK8sConfig/podSpecConfg", {}, "podSpecConfg"),
        ("telemetry/enable", False, "enable"),
        ("dagster-user-deployments/deployments/0/volumeMounts/0", {"name": "tiktok-data"}, "'mountPath' is a required"),
        ("dagster-user-deployments/deployments/0/securityContext/runAsNonroot", True, "runAsNonroot"),
    ],
)
def test_chart_schema_rejects_misspelt_or_mistyped_values(path, value, expected):
    errors = schema_errors(_set(load_values(), path, value))
    assert any(expected in error for error in errors), errors


# --------------------------------------------------------------------------------------------------
# Concurrency and the instance the chart renders
# --------------------------------------------------------------------------------------------------

# Shape of the chart's `concurrency` values (pydantic models Concurrency, ConcurrencyPools,
# ConcurrencyRuns, TagConcurrencyLimit, all extra="forbid", in dagster-io/dagster
# helm/dagster/schema/schema/charts/dagster/subschema/concurrency.py). The vendored schema predates
# this section, so it is checked here.
_NULLABLE_INT = {"type": ["integer", "null"]}
CONCURRENCY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "pools": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "defaultLimit": _NULLABLE_INT,
                "granularity": {"enum": ["run", "op", None]},
                "opGranularityRunBuffer": _NULLABLE_INT,
            },
        },
        "runs": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "maxConcurrentRuns": _NULLABLE_INT,
                "tagConcurrencyLimits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "limit"],
                        "properties": {
                            "key": {"type": "string"},
                            "value": {"type": ["string", "object", "null"]},
                            "limit": {"type": "integer"},
                        },
                    },
                },
            },
        },
    },
}


def chart_conflicts(values: dict[str, Any]) -> list[str]:
    """The chart's refusals (templates/helpers/instance/_concurrency.tpl): limits set in two places."""
    coordinator = values.get("dagsterDaemon", {}).get("runCoordinator", {})
    if not (coordinator.get("enabled") and coordinator.get("type") == "QueuedRunCoordinator"):
        return []
    queued = (coordinator.get("config") or {}).get("queuedRunCoordinator") or {}
    concurrency = values.get("concurrency", {})
    runs, pools = concurrency.get("runs", {}), concurrency.get("pools", {})
    conflicts = []
    if runs.get("maxConcurrentRuns") is not None and queued.get("maxConcurrentRuns") is not None:
        conflicts.append("maxConcurrentRuns")
    if runs.get("tagConcurrencyLimits") and queued.get("tagConcurrencyLimits"):
        conflicts.append("tagConcurrencyLimits")
    block = queued.get("blockOpConcurrencyLimitedRuns") or {}
    if pools.get("opGranularityRunBuffer") is not None and block.get("opConcurrencySlotBuffer") is not None:
        conflicts.append("opGranularityRunBuffer")
    return conflicts


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def chart_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The run_coordinator, concurrency, run_monitoring and retention blocks of the dagster.yaml the
    chart renders (templates/configmap-instance.yaml and helpers/instance/*.tpl of the chart), from
    the keys these values set; keys left to the chart's defaults are left to Dagster's defaults.
    """
    daemon = values["dagsterDaemon"]
    instance: dict[str, Any] = {}
    coordinator = daemon["runCoordinator"]
    if coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator"
        instance["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
        queued = {
            k: v
            for k, v in (coordinator["config"].get("queuedRunCoordinator") or {}).items()
            if v not in (None, [], {})
        }
        if queued:
            instance["run_coordinator"]["config"] = {_snake(k): v for k, v in queued.items()}
    concurrency = values.get("concurrency", {})
    if concurrency.get("enabled"):
        block: dict[str, Any] = {}
        pools = {_snake(k): v for k, v in concurrency.get("pools", {}).items() if v is not None}
        if pools:
            block["pools"] = pools
        runs = concurrency.get("runs", {})
        rendered_runs: dict[str, Any] = {}
        if runs.get("maxConcurrentRuns") is not None:
            rendered_runs["max_concurrent_runs"] = runs["maxConcurrentRuns"]
        if runs.get("tagConcurrencyLimits"):
            rendered_runs["tag_concurrency_limits"] = [dict(limit) for limit in runs["tagConcurrencyLimits"]]
        if rendered_runs:
            block["runs"] = rendered_runs
        instance["concurrency"] = block
    monitoring = daemon.get("runMonitoring", {})
    if monitoring.get("enabled"):
        instance["run_monitoring"] = {_snake(k): v for k, v in monitoring.items()}
    retention = values.get("retention", {})
    if retention.get("enabled"):
        instance["retention"] = {
            kind: {"purge_after_days": retention[kind]["purgeAfterDays"]}
            for kind in ("sensor", "schedule")
            if kind in retention
        }
    return instance


def test_concurrency_values_have_the_chart_shape_and_no_conflicts():
    values = load_values()
    errors = [error.message for error in Draft202012Validator(CONCURRENCY_SCHEMA).iter_errors(values["concurrency"])]
    assert errors == []
    assert chart_conflicts(values) == []
    # the same checks reject a misspelt key and limits set in both places
    misspelt = _set(values, "concurrency/runs/maxconcurrentruns", 1)
    assert list(Draft202012Validator(CONCURRENCY_SCHEMA).iter_errors(misspelt["concurrency"]))
    doubled = _set(values, "dagsterDaemon/runCoordinator/config/queuedRunCoordinator", {"maxConcurrentRuns": 10})
    assert chart_conflicts(doubled) == ["maxConcurrentRuns"]


def test_rendered_instance_loads_with_the_run_queue_and_no_pools(tmp_path):
    """Dagster 1.13 loads the instance the chart renders; the run queue is as intended and no pool is configured
    (writes take the warehouse lock, which dies with the pod that held it)."""
    from dagster._core.run_coordinator import QueuedRunCoordinator

    values = load_values()
    assert "pools" not in values["concurrency"]
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(chart_instance(values)))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit is None
        queue = config.run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 4
        assert [(limit["key"], limit["limit"]) for limit in queue.tag_concurrency_limits] == [("dagster/backfill", 1)]
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60


def test_rendered_instance_matches_the_production_instance():
    """Helm renders the instance from the values; it keeps the limits of deploy/dagster.yaml."""
    production = yaml.safe_load(INSTANCE_PATH.read_text())
    rendered = chart_instance(load_values())
    assert rendered["concurrency"] == production["concurrency"]
    assert rendered["run_coordinator"]["class"] == production["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "config" not in rendered["run_coordinator"]  # limits only under concurrency, as in production
    for key in ("enabled", "free_slots_after_run_end_seconds"):
        assert rendered["run_monitoring"][key] == production["run_monitoring"][key]
    production_ticks = production["retention"]["sensor"]["purge_after_days"]
    rendered_ticks = rendered["retention"]["sensor"]["purge_after_days"]
    assert {k: rendered_ticks[k] for k in production_ticks} == production_ticks


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------

SECRET_KEY = re.compile(r"pass(word)?|secret|token|webhook|api[_-]?key|private[_-]?key|credential", re.IGNORECASE)
SECRET_ENV_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|WEBHOOK_URL|API_KEY|ACCESS_TOKEN|REFRESH_TOKEN|SECRET_ACCESS_KEY|ACCESS_KEY_ID|"
    r"SESSION_TOKEN)$"
)
SECRET_VALUE = (
    re.compile(r"\bpassword\s*=", re.IGNORECASE),  # a libpq conninfo's password (a lake's URL)
    re.compile(r"hooks\.slack\.com/"),
    re.compile(r"webhook\.office\.com|logic\.azure\.com|powerautomate"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # credentials inside a URL
)
# Keys whose value names a Secret (a reference), not a secret itself.
SECRET_REFERENCE_KEYS = frozenset({"postgresqlSecretName", "celeryConfigSecretName", "secretName"})


def _scalars(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _scalars(child, (*path, str(key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _scalars(child, (*path, str(index)))
    else:
        yield path, node


def literal_secrets(values: dict[str, Any]) -> list[str]:
    """Values that look like secrets written in clear: by the key's name or by the value's form."""
    found = []
    for path, value in _scalars(values):
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            continue
        key = path[-1]
        where = ".".join(path)
        in_env_map = len(path) >= 2 and path[-2] == "env"
        if in_env_map and (key in SECRET_ENV_VARS | SECRET_SETTINGS or SECRET_ENV_NAME.search(key)):
            found.append(f"{where}: secret variable set in clear (use envSecrets)")
        elif not in_env_map and SECRET_KEY.search(key) and key not in SECRET_REFERENCE_KEYS:
            found.append(f"{where}: looks like a secret")
        elif isinstance(value, str) and any(pattern.search(value) for pattern in SECRET_VALUE):
            found.append(f"{where}: value looks like a credential")
    return found


def test_values_hold_no_literal_secret():
    values = load_values()
    assert literal_secrets(values) == []
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["enabled"] is False
    assert values["global"]["postgresqlSecretName"]
    location = code_location(values)
    assert not SECRET_ENV_VARS & set(location["env"]), "secret variables must come from envSecrets"
    assert [secret["name"] for secret in location["envSecrets"]] == [
        "tiktok-pipeline-secrets",
        "tiktok-pipeline-warehouse",
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("postgresql/postgresqlPassword", "hunter2"),
        ("postgresql/postgresqlParams/password", "hunter2"),
        ("dagster-user-deployments/deployments/0/env/TIKTOK_CLIENT_SECRET", "s3cr3t"),
        (
            "dagster-user-deployments/deployments/0/env/TIKTOK_SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/x",
        ),
        ("dagster-user-deployments/deployments/0/env/TIKTOK_API_BASE_URL", "https://user:pw@open.tiktokapis.com"),
        ("dagster-user-deployments/deployments/0/env/TIKTOK_WAREHOUSE_URL", "ducklake:postgres:host=db dbname=lake"),
        ("dagster-user-deployments/deployments/0/env/TIKTOK_LAKE_DATA_PATH", "host=db password=hunter2"),
        ("dagster-user-deployments/deployments/0/env/AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
        ("dagster-user-deployments/deployments/0/env/AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "dagster-user-deployments/deployments/0/env/ALERT_HOOK",
            "https://prod-01.westeurope.logic.azure.com/workflows/x",
        ),
    ],
)
def test_literal_secrets_are_detected(path, value):
    assert literal_secrets(_set(load_values(), path, value))


def test_secret_variables_are_read_by_the_code():
    """The names handed over as secrets are the names the code reads (a rename breaks this)."""
    source = "\n".join(p.read_text() for p in (PROJECT_ROOT / "tiktok_pipeline").rglob("*.py"))
    for name in SECRET_ENV_VARS:
        assert f'"{name}"' in source, f"{name} is not read anywhere in tiktok_pipeline"
    assert not SECRET_ENV_VARS & SETTINGS_ENV_VARS


# --------------------------------------------------------------------------------------------------
# TIKTOK_* settings
# --------------------------------------------------------------------------------------------------


def unknown_tiktok_variables(names: set[str]) -> set[str]:
    """TIKTOK_* names that are neither a Settings field nor a secret the code reads."""
    return {n for n in names if n.startswith("TIKTOK_")} - SETTINGS_ENV_VARS - SECRET_ENV_VARS


def dockerfile_env(text: str) -> dict[str, str]:
    env = {}
    for keyword, argument in dockerfile_instructions(text):
        if keyword == "ENV":
            for pair in shlex.split(argument):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_every_tiktok_variable_is_a_setting():
    env = code_location(load_values())["env"]
    assert unknown_tiktok_variables(set(env)) == set()
    assert unknown_tiktok_variables(set(dockerfile_env(DOCKERFILE_PATH.read_text()))) == set()
    readme_names = set(re.findall(r"\bTIKTOK_[A-Z_]+[A-Z]\b", README_PATH.read_text()))
    assert unknown_tiktok_variables(readme_names) == set()
    # a renamed setting is caught
    assert unknown_tiktok_variables({"TIKTOK_WAREHOUSE_FILE", "TIKTOK_WAREHOUSE_PATH"}) == {"TIKTOK_WAREHOUSE_FILE"}


def deploy_environment(monkeypatch: pytest.MonkeyPatch, *, lake_url: str = TEST_LAKE_URL) -> dict[str, str]:
    """A pod's TIKTOK_* and AWS_* environment, in Kubernetes' order: the image's ENV, replaced by the values' env,
    replaced by the Secrets' keys (test values); the process's own such variables removed first."""
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "AWS_", "DUCKDB_")):
            monkeypatch.delenv(name)
    env = {**dockerfile_env(DOCKERFILE_PATH.read_text()), **code_location(load_values())["env"]}
    env |= dict.fromkeys(SECRET_ENV_VARS | OBJECT_STORE_SECRETS - {"AWS_SESSION_TOKEN"}, "test-only-not-a-secret")
    env["TIKTOK_WAREHOUSE_URL"] = lake_url
    env = {name: value for name, value in env.items() if name.startswith(("TIKTOK_", "AWS_"))}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_settings_and_definitions_load_with_the_deployed_environment(monkeypatch):
    """The pods' environment (image, values, Secrets) parses and the code location loads."""
    from tiktok_pipeline.definitions import build_definitions

    deploy_environment(monkeypatch)
    settings = Settings()
    assert not settings.uses_simulator and not settings.ads.uses_simulator
    assert settings.warehouse.is_lake
    definitions = build_definitions(settings)
    assert definitions.get_repository_def().has_job("window_pipeline_job")


def readme_secret_keys(readme: str) -> dict[str, set[str]]:
    """Secret name → the keys README's ``kubectl create secret generic`` gives it."""
    joined = re.sub(r"\\\n\s*", " ", readme)  # continuation lines joined
    found: dict[str, set[str]] = {}
    for line in joined.splitlines():
        created = re.search(r"create secret generic (\S+)", line)
        if created:
            found[created.group(1)] = set(re.findall(r"--from-literal=([A-Za-z_-]+)=", line))
    return found


def test_the_warehouse_is_a_lake_whose_url_comes_from_a_secret(monkeypatch):
    """TIKTOK_WAREHOUSE_URL (its conninfo holds a password) reaches the pods from the Secret the README creates,
    with the bucket's keys, never from the values; the data is on object storage; the pods' environment parses
    into that lake (the image's file default does not get in the way)."""
    values = load_values()
    location = code_location(values)
    env = location["env"]
    assert not ({"TIKTOK_WAREHOUSE_URL", "TIKTOK_WAREHOUSE_PATH"} | OBJECT_STORE_SECRETS) & set(env)
    assert env["TIKTOK_LAKE_DATA_PATH"].startswith("s3://") and env["AWS_REGION"]
    readme = README_PATH.read_text()
    keys = readme_secret_keys(readme)
    holders = [s["name"] for s in location["envSecrets"] if "TIKTOK_WAREHOUSE_URL" in keys.get(s["name"], set())]
    assert holders == ["tiktok-pipeline-warehouse"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= keys["tiktok-pipeline-warehouse"]
    created = re.search(r'--from-literal=TIKTOK_WAREHOUSE_URL="(ducklake:postgres:[^"]*)"', readme)
    assert created and re.search(r"\bpassword=\$[A-Z_]+\b", created.group(1)), "the password comes from a variable"
    deploy_environment(monkeypatch, lake_url=created.group(1))
    target = Settings().warehouse
    assert target.is_lake and target.data_path == env["TIKTOK_LAKE_DATA_PATH"]
    assert target.catalog is not None and "dbname=tiktok_lake" in target.catalog.get_secret_value()
    # written in the values instead, it is caught as a literal secret
    written = _set(values, "dagster-user-deployments/deployments/0/env/TIKTOK_WAREHOUSE_URL", created.group(1))
    assert literal_secrets(written)


# --------------------------------------------------------------------------------------------------
# The shared volume and the code location
# --------------------------------------------------------------------------------------------------


def _under(path: str, directory: str) -> bool:
    return PurePosixPath(directory) in PurePosixPath(path).parents


def test_state_is_on_the_shared_volume_and_reaches_run_pods():
    values = load_values()
    location = code_location(values)
    env = location["env"]
    pvc = yaml.safe_load(PVC_PATH.read_text())
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = {v["name"]: v for v in location["volumes"]}
    mounts = {m["name"]: m for m in location["volumeMounts"]}
    (data,) = [
        name
        for name, v in volumes.items()
        if v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"]
    ]
    for name in ("TIKTOK_LANDING_DIR", "TIKTOK_TOKEN_STORE_PATH", "TIKTOK_POLLING_STATE_DIR", "TIKTOK_CONVERSIONS_DIR"):
        assert _under(env[name], mounts[data]["mountPath"]), f"{name}={env[name]} is not on the shared volume"
    (registry,) = [name for name, v in volumes.items() if "configMap" in v]
    assert _under(env["TIKTOK_REGISTRY_PATH"], mounts[registry]["mountPath"])
    assert mounts[registry].get("readOnly") is True and "subPath" not in mounts[registry]
    # run pods get the code location's volumes, env and secrets ...
    assert location["includeConfigInLaunchedRuns"]["enabled"] is True
    # ... and the claim is declared once (a second declaration at launcher level would mount it twice)
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert launcher["volumes"] == [] and launcher["volumeMounts"] == []


def test_pods_run_as_the_image_user():
    uid = dockerfile_user(DOCKERFILE_PATH.read_text())
    values = load_values()
    location = code_location(values)
    pod_contexts = [
        location["podSecurityContext"],
        values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]["securityContext"],
    ]
    for context in pod_contexts:
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == uid and context["fsGroup"] == uid
    subset = Draft202012Validator(K8S_SUBSET["io.k8s.api.core.v1.PodSecurityContext"])
    assert [e.message for context in pod_contexts for e in subset.iter_errors(context)] == []


def test_code_location_serves_the_project_definitions():
    values = load_values()
    location = code_location(values)
    module = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    args = location["codeServerArgs"]
    assert "dagsterApiGrpcArgs" not in location
    assert args[args.index("-m") + 1] == module
    attribute = args[args.index("-a") + 1]
    assert isinstance(getattr(importlib.import_module(module), attribute), dg.Definitions)
    command = dockerfile_cmd(DOCKERFILE_PATH.read_text())
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == module and command[command.index("-a") + 1] == attribute
    assert int(command[command.index("-p") + 1]) == location["port"]


# --------------------------------------------------------------------------------------------------
# The image and its build context
# --------------------------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, argument = (pending + line).partition(" ")
        instructions.append((keyword.upper(), argument.strip()))
        pending = ""
    return instructions


def dockerfile_user(text: str) -> int:
    users = [argument for keyword, argument in dockerfile_instructions(text) if keyword == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric uid so Kubernetes can enforce runAsNonRoot"
    return int(uid)


def dockerfile_cmd(text: str) -> list[str]:
    (cmd,) = [argument for keyword, argument in dockerfile_instructions(text) if keyword == "CMD"]
    return json.loads(cmd)


def _build_arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)


def dockerfile_problems(text: str) -> list[str]:
    instructions = dockerfile_instructions(text)
    args = _build_arg_defaults(instructions)
    problems = []
    stages = [a for k, a in instructions if k == "FROM"]
    for stage in stages:
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), stage.split()[0])
        if not image.startswith("python:3.11-slim"):
            problems.append(f"base image {image} is not python:3.11-slim")
    pip_installs = []
    for keyword, argument in instructions:
        if keyword == "RUN":
            for command in argument.split("&&"):
                words = shlex.split(command)
                if words[:2] == ["pip", "install"] or words[1:3] == ["-m", "pip"]:
                    pip_installs.append(words)
    locked = [w for w in pip_installs if "requirements.lock" in w]
    if not any({"--require-hashes", "--no-deps", "-r"} <= set(w) for w in locked):
        problems.append("requirements.lock is not installed with --require-hashes --no-deps -r")
    for words in pip_installs:
        if "--no-deps" not in words:
            problems.append(f"`{' '.join(words)}` resolves dependencies outside the lock")
    copied = [a for k, a in instructions if k in ("COPY", "ADD")]
    for argument in copied:
        sources = [w for w in shlex.split(argument)[:-1] if not w.startswith("--")]
        if (
            any(s == "data" or s.startswith(("data/", "./data")) or s in (".", "./") for s in sources)
            and "--from=" not in argument
        ):
            problems.append(f"COPY {argument}: copies runtime data or the whole context")
    if any(k == "ADD" for k, _ in instructions):
        problems.append("ADD is used (use COPY; never fetch URLs at build time)")
    for keyword, argument in instructions:
        if keyword in ("ENV", "ARG"):
            names = [pair.partition("=")[0] for pair in shlex.split(argument)]
            for name in names:
                if name in SECRET_ENV_VARS or SECRET_ENV_NAME.search(name) or "PASSWORD" in name:
                    problems.append(f"{keyword} {name}: a secret baked into the image")
    if any(k == "ENTRYPOINT" for k, _ in instructions):
        problems.append("ENTRYPOINT is set: the chart and the run launcher pass the whole command as args")
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    final_users = [a for k, a in instructions[last_from:] if k == "USER"]
    if not final_users:
        problems.append("the final stage runs as root (no USER)")
    else:
        uid = final_users[-1].split(":")[0]
        if not uid.isdigit() or int(uid) == 0:
            problems.append(f"USER {final_users[-1]}: not a numeric non-root uid")
    return problems


def test_dockerfile_installs_the_lock_and_runs_as_non_root():
    assert dockerfile_problems(DOCKERFILE_PATH.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "--require-hashes --no-deps -r requirements.lock",
            "-r requirements.lock",
            "requirements.lock is not installed",
        ),
        ("pip install --no-deps --no-build-isolation .", "pip install --no-build-isolation .", "resolves dependencies"),
        ("USER 10001:10001", "USER root", "not a numeric non-root uid"),
        ("USER 10001:10001", "USER tiktok", "not a numeric non-root uid"),
        ("USER 10001:10001\n", "", "runs as root"),
        ("COPY requirements.lock ./", "COPY requirements.lock data/tokens.json ./", "copies runtime data"),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 TIKTOK_CLIENT_SECRET=x", "baked into the image"),
        ("EXPOSE 3030", 'EXPOSE 3030\nENTRYPOINT ["dagster"]', "ENTRYPOINT"),
        ("ARG PYTHON_BASE=python:3.11-slim", "ARG PYTHON_BASE=python:3.12", "not python:3.11-slim"),
    ],
)
def test_dockerfile_checks_catch_regressions(old, new, expected):
    text = DOCKERFILE_PATH.read_text()
    assert old in text
    assert any(expected in problem for problem in dockerfile_problems(text.replace(old, new, 1)))


def test_build_context_is_an_allowlist_without_runtime_state():
    patterns = [
        line.strip() for line in DOCKERIGNORE_PATH.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore must start by excluding everything"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "requirements.lock", "tiktok_pipeline"}
    instructions = dockerfile_instructions(DOCKERFILE_PATH.read_text())
    for keyword, argument in instructions:
        if keyword == "COPY" and "--from=" not in argument:
            for source in shlex.split(argument)[:-1]:
                assert source.rstrip("/") in allowed, f"COPY {source} is not in the build context"


def test_lock_has_the_kubernetes_run_launcher():
    """Run pods load the instance the chart renders, whose run launcher is dagster_k8s.K8sRunLauncher."""
    lock = (PROJECT_ROOT / "requirements.lock").read_text()
    postgres = re.search(r"^dagster-postgres==(\S+)", lock, re.MULTILINE)
    assert postgres, "dagster-postgres missing from requirements.lock"
    assert re.search(rf"^dagster-k8s=={re.escape(postgres.group(1))} ", lock, re.MULTILINE)


# --------------------------------------------------------------------------------------------------
# The instructions
# --------------------------------------------------------------------------------------------------


def test_readme_creates_what_the_values_reference():
    values = load_values()
    readme = README_PATH.read_text()
    location = code_location(values)
    secrets = [values["global"]["postgresqlSecretName"], *(s["name"] for s in location["envSecrets"])]
    for name in secrets:
        assert re.search(rf"create secret generic {re.escape(name)}\b", readme), f"README does not create Secret {name}"
    assert "--from-literal=postgresql-password=" in readme  # the key the chart reads
    for name in re.findall(r"--from-literal=(TIKTOK_[A-Z_]+)=", readme):
        assert name in SECRET_ENV_VARS | SECRET_SETTINGS
    configmaps = [v["configMap"]["name"] for v in location["volumes"] if "configMap" in v]
    registry_file = PurePosixPath(location["env"]["TIKTOK_REGISTRY_PATH"]).name
    for name in configmaps:
        assert re.search(rf"create configmap {re.escape(name)}\s*\\?\s*--from-file={re.escape(registry_file)}=", readme)
    pvc = yaml.safe_load(PVC_PATH.read_text())["metadata"]["name"]
    assert f"apply -f deploy/helm/{PVC_PATH.name}" in readme and pvc in readme
    dagster_version = importlib.metadata.version("dagster")
    assert f"--version {dagster_version}" in readme, "the chart version must equal the dagster version"
    assert "-f deploy/helm/values.yaml" in readme
    assert f"version {dagster_version}" in VALUES_PATH.read_text()
