"""URL credentials read from the raw text: the whole password is masked, whatever un-encoded
reserved characters it holds, and `validate` can say which characters need encoding."""

from __future__ import annotations

import pytest

from sentinel_assets.core.redaction import (
    encode_password_at,
    mask_url,
    redact,
    unencoded_credentials,
    url_origin,
    url_password,
)

PASSWORD = "Zq7Lm@Xv9Rt@Kw3Pn"
URL = f"postgresql+psycopg2://alerts:{PASSWORD}@db.internal:5432/shop"
FRAGMENTS = PASSWORD.split("@")


@pytest.mark.parametrize(("url", "password", "masked"), [
    (URL, PASSWORD, "postgresql+psycopg2://alerts:***@db.internal:5432/shop"),
    ("mysql+pymysql://root:a/b?c#d e%@h/db", "a/b?c#d e%", "mysql+pymysql://root:***@h/db"),
    ("postgresql://user@corp:pw%40x@h/db", "pw%40x", "postgresql://user@corp:***@h/db"),
    ("postgresql://reader@h/db", None, "postgresql://reader@h/db"),
    ("sqlite:///var/alerts.db", None, "sqlite:///var/alerts.db"),
    ("not a url", None, "not a url"),
])
def test_the_whole_password_is_read_and_masked_from_the_raw_text(url, password, masked):
    assert url_password(url) == password
    assert mask_url(url) == masked


def test_free_text_loses_every_fragment_of_the_password():
    text = f'could not connect to "{URL}" (retrying); contact dba@example.com'

    cleaned = redact(text)

    assert cleaned == ('could not connect to "postgresql+psycopg2://alerts:***@db.internal:5432/'
                       'shop" (retrying); contact dba@example.com')
    assert not any(fragment in cleaned for fragment in FRAGMENTS)


def test_a_known_url_masks_its_password_anywhere_in_a_text():
    text = f"login failed with {PASSWORD} and {PASSWORD.replace('@', '%40')}"

    assert redact(text, URL) == "login failed with *** and ***"


def test_the_origin_of_a_url_never_holds_its_password():
    assert url_origin(URL) == "postgresql+psycopg2://db.internal:5432"
    assert url_origin("postgresql://u:12/34@h:5/db") == "postgresql://h:5"


@pytest.mark.parametrize(("url", "encoded"), [
    (URL, "postgresql+psycopg2://alerts:Zq7Lm%40Xv9Rt%40Kw3Pn@db.internal:5432/shop"),
    # SQLAlchemy reads these right already: left alone
    ("postgresql://u:pw@h/db?application_name=a@b", "postgresql://u:pw@h/db?application_name=a@b"),
    ("postgresql://user@corp:pw@h/db", "postgresql://user@corp:pw@h/db"),
    ("postgresql://u:p%40w@h/db", "postgresql://u:p%40w@h/db"),
])
def test_an_at_sign_in_a_password_is_encoded_only_where_a_parser_would_split_there(url, encoded):
    import sqlalchemy as sa

    assert encode_password_at(url) == encoded
    parsed = sa.make_url(encoded)
    assert "@" not in (parsed.host or "")


@pytest.mark.parametrize(("url", "found"), [
    (URL, {"password": ["@"]}),
    ("postgresql://a@b:p w#x%zz?y/z:1@h/db", {"user": ["@"],
                                             "password": [":", "/", "#", "?", " ", "%"]}),
    ("postgresql://u:p%40w%2F@h/db", {}),
    ("postgresql://reader@h/db", {}),
    ("bigquery://project/dataset", {}),
])
def test_unencoded_reserved_characters_are_listed_by_part(url, found):
    assert unencoded_credentials(url) == found
