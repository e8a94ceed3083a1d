"""Identifier normalisation and SHA-256 hashing as TikTok specifies, against known vectors."""

import hashlib

import pytest

from tiktok_pipeline.activation.conversions.hashing import (
    IdentifierError,
    hash_email,
    hash_external_id,
    hash_phone,
    normalize_phone,
    sha256_hex,
)

# Published SHA-256 digests (independent of this code): of "test@example.com", of "" and of "abc" (FIPS 180-2).
TEST_AT_EXAMPLE = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_matches_published_vectors():
    assert sha256_hex("") == EMPTY
    assert sha256_hex("abc") == ABC
    assert sha256_hex("test@example.com") == TEST_AT_EXAMPLE


@pytest.mark.parametrize("raw", ["test@example.com", "  Test@Example.COM\t", "\nTEST@EXAMPLE.COM "])
def test_email_is_trimmed_and_lower_cased_before_hashing(raw):
    assert hash_email(raw) == TEST_AT_EXAMPLE


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(202) 555-0123", "US", "+12025550123"),
        ("+1 202 555 0123", "US", "+12025550123"),
        ("202.555.0123", "US", "+12025550123"),
        ("  +1-202-555-0123 ", "GB", "+12025550123"),  # an explicit + wins over the default region
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("00 1 202 555 0123", "DE", "+12025550123"),  # international prefix of the default region
        ("2025550123", "us", "+12025550123"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, region, e164):
    assert normalize_phone(raw, region) == e164
    assert hash_phone(raw, region) == hashlib.sha256(e164.encode()).hexdigest()


def test_phone_hash_is_of_the_e164_string_with_plus():
    assert hash_phone("(202) 555-0123") == "d5ab8b77e69a81dfc634c3556c620d5d6753df6fc28c73c88c79a9332b705382"


@pytest.mark.parametrize("raw", ["12345", "not a phone", "+1 202", "555"])
def test_impossible_phone_numbers_are_refused_without_echoing_them(raw):
    with pytest.raises(IdentifierError) as caught:
        hash_phone(raw, "US")
    assert "phone" in str(caught.value) and raw.strip() not in str(caught.value)


@pytest.mark.parametrize("raw", ["no-at-sign", "two@@example.com", "spaces in@example.com", "nodot@example", ""])
def test_malformed_emails_are_refused_without_echoing_them(raw):
    with pytest.raises(IdentifierError) as caught:
        hash_email(raw)
    assert "email" in str(caught.value) and (not raw or raw not in str(caught.value))


def test_external_id_is_trimmed_but_keeps_its_case():
    assert hash_external_id("  Cust-00042 ") == sha256_hex("Cust-00042")
    assert hash_external_id("Cust-00042") != hash_external_id("cust-00042")
    with pytest.raises(IdentifierError):
        hash_external_id("   ")


def test_values_already_hashed_pass_through_lower_cased():
    upper = TEST_AT_EXAMPLE.upper()
    assert hash_email(upper) == TEST_AT_EXAMPLE
    assert hash_phone(f" {upper} ") == TEST_AT_EXAMPLE
    assert hash_external_id(TEST_AT_EXAMPLE) == TEST_AT_EXAMPLE
    # 63 hex characters are not a digest: hashed like any other id
    assert hash_external_id(TEST_AT_EXAMPLE[:-1]) == sha256_hex(TEST_AT_EXAMPLE[:-1])
