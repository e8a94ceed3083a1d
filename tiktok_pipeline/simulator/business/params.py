"""Query parameters of the simulated API for Business: TikTok's checks and its 40002 messages naming the parameter."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

from tiktok_pipeline.simulator.business.ads import AdAccount
from tiktok_pipeline.simulator.business.protocol import BusinessError

MAX_PAGE_SIZE = 1000


def bad_parameter(name: str, problem: str) -> BusinessError:
    return BusinessError(40002, f"{name}: {problem}")


def required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise bad_parameter(name, "is required.")
    return value


def json_parameter(params: dict[str, str], name: str, kind: type) -> Any:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise bad_parameter(name, f"must be a JSON {kind.__name__} string, got {raw[:80]!r}.") from None
    if not isinstance(value, kind):
        raise bad_parameter(name, f"must be a JSON {kind.__name__}, got {type(value).__name__}.")
    return value


def string_list(params: dict[str, str], name: str, *, required: bool = True) -> list[str] | None:
    value = json_parameter(params, name, list)
    if value is None:
        if required:
            raise bad_parameter(name, "is required (a JSON array of strings).")
        return None
    if not value or not all(isinstance(v, str) for v in value):
        raise bad_parameter(name, "must be a non-empty JSON array of strings.")
    return value


def int_parameter(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name, f"must be an integer, got {raw!r}.") from None
    if not lo <= value <= hi:
        raise bad_parameter(name, f"must be between {lo} and {hi}, got {value}.")
    return value


def date_parameter(params: dict[str, str], name: str) -> date:
    raw = required(params, name)
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise bad_parameter(name, f"must be a date YYYY-MM-DD, got {raw!r}.") from None


def check_advertiser(params: dict[str, str], account: AdAccount) -> None:
    advertiser_id = required(params, "advertiser_id")
    if advertiser_id != account.advertiser_id:
        raise BusinessError(40001, f"No permission to operate advertiser_id {advertiser_id}.")


def page_of(rows: list[dict[str, Any]], params: dict[str, str], default_size: int) -> dict[str, Any]:
    page = int_parameter(params, "page", 1, 1, 10**6)
    size = int_parameter(params, "page_size", default_size, 1, MAX_PAGE_SIZE)
    return {
        "list": rows[(page - 1) * size : page * size],
        "page_info": {
            "page": page,
            "page_size": size,
            "total_number": len(rows),
            "total_page": math.ceil(len(rows) / size),
        },
    }
