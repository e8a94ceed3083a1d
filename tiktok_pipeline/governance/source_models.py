"""What a source declaration holds (pydantic models): owner, terms, scopes, rate limits, personal data, retention.

A *source* is an outside system the pipeline calls or reads (TikTok's Display API, its API for Business, a
provider's API, an intake of data someone else collected). The simulator is not a source: it serves the same
paths as a declared source. The declarations themselves are in :mod:`tiktok_pipeline.governance.sources`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TermsStatus = Literal["official", "approved_provider", "unofficial"]
"""``official``: TikTok's own API under its published terms. ``approved_provider``: a commercial provider used
under a contract (its reference is required). ``unofficial``: anything else (reverse-engineered, scraped, collected
by someone on their own responsibility): refused unless a risk acceptance is recorded
(:mod:`tiktok_pipeline.governance.risk`)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Terms(_Frozen):
    """Under which terms the source is used."""

    status: TermsStatus
    name: str = Field(min_length=1, description="The terms (or contract) the use falls under.")
    contract: str | None = Field(default=None, description="Contract reference: required for approved_provider.")

    @model_validator(mode="after")
    def _contract_for_providers(self) -> Terms:
        if self.status == "approved_provider" and not (self.contract or "").strip():
            raise ValueError("an approved_provider source needs its contract reference (terms.contract)")
        return self


class Scope(_Frozen):
    """One permission the source is used with, and what needs it: ``endpoints`` (each declared in a rate limit)
    are the calls made under it, which ``api_call_log.scope`` names (:mod:`tiktok_pipeline.governance.call_scopes`)."""

    name: str = Field(min_length=1)
    needed_for: str = Field(min_length=1)
    endpoints: tuple[str, ...] = Field(min_length=1, description="The endpoints called under this scope.")


class RateLimit(_Frozen):
    """A limit the source sets on requests, and what the client keeps to.

    ``requests`` per ``window_seconds``, counted ``per_endpoint`` (each endpoint listed has its own) or
    ``per_app`` (every endpoint listed, and every limit of the same ``pool``, together). ``requests`` None: the
    source publishes no limit and the client does not pace these endpoints. ``client_default`` is what the
    client keeps to when ``setting`` is unset; the setting may lower it, never raise it above ``requests``.
    """

    endpoints: tuple[str, ...] = Field(min_length=1)
    counted: Literal["per_endpoint", "per_app"]
    requests: float | None = Field(gt=0)
    window_seconds: float = Field(gt=0)
    client_default: float | None = Field(default=None, gt=0)
    setting: str | None = None
    pool: str | None = Field(
        default=None, description="Limits of several sources counted together (the same app): one client limiter."
    )
    max_items: int | None = Field(default=None, ge=1, description="Most items one request may carry or return.")
    items: str | None = Field(default=None, description="What max_items counts, e.g. 'videos'.")
    basis: str = Field(min_length=1, description="Where the figure comes from.")

    @model_validator(mode="after")
    def _default_within_limit(self) -> RateLimit:
        if self.requests is not None and self.client_default is None:
            raise ValueError(f"{self.endpoints}: a published limit needs the client_default the client keeps to")
        if self.requests is not None and self.client_default is not None and self.client_default > self.requests:
            raise ValueError(f"{self.endpoints}: client_default {self.client_default:g} > limit {self.requests:g}")
        if (self.max_items is None) != (self.items is None):
            raise ValueError(f"{self.endpoints}: max_items and items go together")
        return self


class PersonalData(_Frozen):
    """Personal data the source brings in or is sent, whose it is and how it is handled."""

    data: str = Field(min_length=1)
    subject: str = Field(min_length=1, description="Whose data it is (creators, customers).")
    handling: str = Field(min_length=1)


class Retention(_Frozen):
    """How long something the source produced is kept (``days`` None: kept until someone deletes it)."""

    what: str = Field(min_length=1)
    days: int | None = Field(default=None, ge=0)
    setting: str | None = None
    enforced_by: str = Field(min_length=1, description="What deletes it, or 'nothing' when it is kept.")


class Webhook(_Frozen):
    """An inbound webhook the source delivers to us: its events, where we receive it, how it is verified, and why."""

    events: tuple[str, ...] = Field(min_length=1)
    receiver: str = Field(min_length=1, description="What receives it (the command and where it lands).")
    verification: str = Field(min_length=1)
    delivery: str = Field(min_length=1, description="The source's delivery guarantees (retries, duplicates).")
    purpose: str = Field(min_length=1)


class ProviderValidation(_Frozen):
    """What was checked about a commercial provider before use, as the playbook asks: how it sources its data, how
    often it refreshes, what it covers (creators, videos, geography) and how its terms were checked. ``measured``
    names the benchmark whose figures (with the date measured) the governance report shows beside these facts."""

    sourcing: str = Field(min_length=1, description="How the provider gets its data (e.g. crawls public pages).")
    refresh: str = Field(min_length=1, description="Its refresh interval: published, or not and measured.")
    coverage: str = Field(min_length=1, description="Which creators and videos it covers, and how much of them.")
    geography: str = Field(min_length=1, description="Regions / markets covered.")
    compliance: str = Field(min_length=1, description="How its terms and its own sourcing were checked.")
    measured: str = Field(min_length=1, description="The benchmark measuring refresh and coverage, and its output.")


class SourceDeclaration(_Frozen):
    """One source: who answers for it, under which terms, with which scopes and limits, what it touches."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    owner: str = Field(pattern=r"^(team|user):\S+$", description="Who answers for the source (Dagster owner form).")
    terms: Terms
    base_url: str = Field(min_length=1, description="The production host.")
    setting: str | None = Field(default=None, description="The setting that points the client at the host.")
    switch: str | None = Field(
        default=None,
        description=(
            "The setting that turns the source on (None: always on). A source that is off is not used, so it is not"
            " admitted or refused, and its definitions are not loaded."
        ),
    )
    scopes: tuple[Scope, ...]
    rate_limits: tuple[RateLimit, ...]
    personal_data: tuple[PersonalData, ...]
    retention: tuple[Retention, ...] = Field(min_length=1)
    purpose: str = Field(min_length=1)
    webhooks: tuple[Webhook, ...] = ()
    validation: ProviderValidation | None = Field(
        default=None, description="An approved provider's validation facts (required for approved_provider)."
    )

    def rate_limit(self, endpoint: str) -> RateLimit:
        """The declared limit counting ``endpoint``; a KeyError naming the source when none does."""
        for limit in self.rate_limits:
            if endpoint in limit.endpoints:
                return limit
        raise KeyError(f"source {self.name!r} declares no rate limit for endpoint {endpoint!r}")

    @model_validator(mode="after")
    def _validated_provider(self) -> SourceDeclaration:
        if self.terms.status == "approved_provider" and self.validation is None:
            raise ValueError(f"source {self.name!r}: an approved_provider needs its validation facts (validation)")
        return self

    @model_validator(mode="after")
    def _one_limit_per_endpoint(self) -> SourceDeclaration:
        seen = [endpoint for limit in self.rate_limits for endpoint in limit.endpoints]
        doubled = sorted({e for e in seen if seen.count(e) > 1})
        if doubled:
            raise ValueError(f"source {self.name!r}: endpoints with more than one rate limit: {doubled}")
        undeclared = sorted({e for scope in self.scopes for e in scope.endpoints} - set(seen))
        if undeclared:
            raise ValueError(f"source {self.name!r}: scopes name endpoints no rate limit declares: {undeclared}")
        return self
