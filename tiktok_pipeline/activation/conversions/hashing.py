"""Normalising and hashing customer identifiers exactly as TikTok's Events API 2.0 asks.

TikTok matches server events to people with SHA-256 digests, and only matches when both sides
normalised the value the same way before hashing:

- **email**: surrounding whitespace trimmed, lower-cased, then SHA-256 (hex, lower case);
- **phone**: parsed and formatted as E.164 (``+`` country code and number, no spaces or
  punctuation: ``+12025550123``), then SHA-256. Numbers written without a country code are read in
  the default region (``TIKTOK_DEFAULT_PHONE_REGION``, ``US`` by default);
- **external_id** (the shop's customer id): trimmed, then SHA-256 (case is kept: ids are opaque);
- a value that already is a SHA-256 hex digest (64 hex characters) passes through, lower-cased,
  so a shop that hashes on its side is not hashed twice;
- ``ip`` and ``user_agent`` are sent unhashed (TikTok needs them readable) and never stored.

A value that cannot be normalised raises :class:`IdentifierError`, whose message names the field
and the problem but never the value (it may end up in logs or the quarantine table).
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no valid country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


class IdentifierError(ValueError):
    """An identifier that cannot be normalised; the message never contains the value."""


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``text``, as 64 lower-case hex characters."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 hex digest (any case)."""
    return bool(SHA256_HEX.match(value))


def normalize_email(raw: str) -> str:
    """``raw`` trimmed and lower-cased; :class:`IdentifierError` when it does not look like an email."""
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise IdentifierError("email is not an email address (expected local@domain.tld)")
    return email


def normalize_phone(raw: str, default_region: str = "US") -> str:
    """``raw`` in E.164 (``+12025550123``); numbers without ``+`` are read in ``default_region``.

    A number must parse and have a possible length for its country (``phonenumbers``'
    ``is_possible_number``); validity against current numbering plans is not required, so numbers
    from ranges newer than the library's metadata are still sent.
    """
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region.upper())
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "unreadable")
        raise IdentifierError(f"phone cannot be read as a phone number ({why})") from None
    if not phonenumbers.is_possible_number(number):
        raise IdentifierError(
            f"phone has an impossible length for country code +{number.country_code} (default region {default_region})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_email(raw: str) -> str:
    """The SHA-256 TikTok expects for an email (or the digest itself, lower-cased, if already hashed)."""
    value = raw.strip()
    return value.lower() if is_sha256_hex(value) else sha256_hex(normalize_email(value))


def hash_phone(raw: str, default_region: str = "US") -> str:
    """The SHA-256 of the E.164 form of a phone number (or the digest itself if already hashed)."""
    value = raw.strip()
    return value.lower() if is_sha256_hex(value) else sha256_hex(normalize_phone(value, default_region))


def hash_external_id(raw: str) -> str:
    """The SHA-256 of a trimmed external id (or the digest itself if already hashed)."""
    value = raw.strip()
    if not value:
        raise IdentifierError("external_id is empty")
    return value.lower() if is_sha256_hex(value) else sha256_hex(value)


def redact(value: object) -> str:
    """A stand-in for a raw personal value in quarantined payloads: its SHA-256, marked as such. Never raises:
    text with a lone surrogate (which UTF-8 cannot encode) is hashed with the surrogate's code point as is."""
    return f"sha256:{hashlib.sha256(str(value).strip().encode('utf-8', 'surrogatepass')).hexdigest()}"
