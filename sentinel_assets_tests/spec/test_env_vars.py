"""``${VAR}`` and ``${VAR:-default}`` substitution."""

from __future__ import annotations

import pytest

from sentinel_assets.spec.env_vars import MissingEnvVar, expand, referenced_vars, whole_env_var

ENV = {"HOST": "db.internal", "PORT": "5432", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain text", "plain text", id="no-reference"),
        pytest.param("${HOST}", "db.internal", id="whole"),
        pytest.param("postgresql://${HOST}:${PORT}/x", "postgresql://db.internal:5432/x",
                     id="embedded-twice"),
        pytest.param("${MISSING:-fallback}", "fallback", id="default-when-unset"),
        pytest.param("${HOST:-fallback}", "db.internal", id="default-ignored-when-set"),
        pytest.param("${EMPTY:-fallback}", "fallback", id="default-when-empty"),
        pytest.param("${MISSING:-}", "", id="empty-default"),
        pytest.param("${MISSING:-sqlite:///demo.db}", "sqlite:///demo.db", id="default-with-colon"),
        pytest.param("$HOST", "$HOST", id="bare-dollar-is-literal"),
        pytest.param("${1BAD}", "${1BAD}", id="invalid-name-is-literal"),
    ],
)
def test_expand(text, expected):
    assert expand(text, ENV) == expected


def test_expand_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_HOST", "from-env")

    assert expand("${SENTINEL_TEST_HOST}") == "from-env"


def test_unset_variable_without_default_is_an_error_naming_it():
    with pytest.raises(MissingEnvVar) as info:
        expand("SELECT ${MISSING}", ENV)

    assert info.value.names == ["MISSING"]
    assert str(info.value) == (
        "environment variable MISSING is not set (or is empty); set it, or write "
        "${MISSING:-default} to give a default"
    )


def test_every_unset_variable_is_named_once():
    with pytest.raises(MissingEnvVar) as info:
        expand("${A} ${HOST} ${B} ${A} ${EMPTY}", ENV)

    assert info.value.names == ["A", "B", "EMPTY"]
    assert str(info.value).startswith("environment variables A, B, EMPTY are not set")


def test_referenced_vars():
    assert referenced_vars("${A}/${B:-x}/$C/${A}") == ["A", "B", "A"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param("${TOKEN}", "TOKEN", id="whole"),
        pytest.param(" ${TOKEN} ", "TOKEN", id="blanks-around"),
        pytest.param("Bearer ${TOKEN}", None, id="embedded"),
        pytest.param("${TOKEN:-x}", None, id="with-default"),
        pytest.param("literal", None, id="literal"),
    ],
)
def test_whole_env_var(text, name):
    assert whole_env_var(text) == name
