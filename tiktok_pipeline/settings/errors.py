"""Reading the environment with errors that name the variable a user sets, the value and what is allowed."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from tiktok_pipeline.settings import domains
from tiktok_pipeline.settings.activation import MerchandisingSettings, SwapSettings
from tiktok_pipeline.settings.consent import ConsentSettings
from tiktok_pipeline.settings.digest import DigestSettings
from tiktok_pipeline.settings.live import LiveSettings
from tiktok_pipeline.settings.pacing import PacingSettings
from tiktok_pipeline.settings.provider import ProviderSettings
from tiktok_pipeline.settings.root import Settings
from tiktok_pipeline.settings.shop import ShopSettings
from tiktok_pipeline.settings.surge import SurgeSettings

SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    Settings,
    domains.DisplaySettings,
    domains.PollingSettings,
    domains.QualitySettings,
    domains.AdsSettings,
    domains.ConversionSettings,
    domains.AlertSettings,
    domains.RetentionSettings,
    LiveSettings,
    ConsentSettings,
    DigestSettings,
    SwapSettings,
    MerchandisingSettings,
    PacingSettings,
    SurgeSettings,
    ProviderSettings,
    ShopSettings,
)


class SettingsError(ValueError):
    """One or more environment variables have values the pipeline cannot use."""


def variable(model: type[BaseSettings], field: str) -> str:
    """The environment variable of ``field`` of ``model`` (e.g. ``TIKTOK_POLL_HOT_MOMENTUM``)."""
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def _allowed(model: type[BaseSettings], field: str) -> str:
    info = model.model_fields.get(field)
    if info is None:
        return ""
    bounds = []
    for constraint in info.metadata:
        for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(constraint, name, None) is not None:
                bounds.append(f"{symbol} {getattr(constraint, name)}")
    kind = getattr(info.annotation, "__name__", str(info.annotation))
    parts = [f"allowed: {kind}{' ' + ' and '.join(bounds) if bounds else ''}"]
    if info.description:
        parts.append(info.description)
    return " (" + "; ".join(parts) + ")"


def describe(error: ValidationError) -> str:
    """One line per problem: ``VARIABLE='value': message (allowed: ...)``."""
    model = next((m for m in SETTINGS_CLASSES if m.__name__ == error.title), Settings)
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a check across variables: its message names them (and never quotes a secret)
            lines.append(message)
            continue
        field = str(problem["loc"][0])
        shown = "'[redacted]'" if _secret(model, field) else repr(problem.get("input"))
        lines.append(f"{variable(model, field)}={shown}: {message}{_allowed(model, field)}")
    return "\n".join(lines)


def _secret(model: type[BaseSettings], field: str) -> bool:
    """Whether ``field`` holds a secret (a ``SecretStr``): its value is never quoted in an error."""
    info = model.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and ``overrides``); a bad value raises :class:`SettingsError` naming its variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError("invalid configuration:\n" + describe(exc)) from None


def environment_variables() -> frozenset[str]:
    """Every environment variable a setting reads (sub-settings' fields included, the sub-settings themselves not)."""
    names = set()
    for model in SETTINGS_CLASSES:
        for field, info in model.model_fields.items():
            if not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)):
                names.add(variable(model, field))
    return frozenset(names)
