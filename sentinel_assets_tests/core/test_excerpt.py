"""``excerpt``: how a value someone wrote is quoted in a message, in bounded space and time."""

from __future__ import annotations

from sentinel_assets.core.excerpt import EXCERPT_CHARS, excerpt
from sentinel_assets.spec.yaml_lines import LineDict


def test_short_values_are_their_repr():
    assert excerpt("Europe/Berlin") == "'Europe/Berlin'"
    assert excerpt(1e308) == "1e+308"
    assert excerpt([1, {"a": None}]) == "[1, {'a': None}]"
    assert excerpt(LineDict({"team": "finance"})) == "{'team': 'finance'}"


def test_a_long_text_keeps_its_start_and_says_how_long_it_was():
    quoted = excerpt("x" * 100_000)
    assert quoted == repr("x" * EXCERPT_CHARS) + "… [truncated, 100,000 chars]"


def test_a_shared_structure_is_not_expanded():
    bomb: list = ["lol"]
    for _ in range(40):  # 10**40 items once expanded
        bomb = [bomb] * 10
    quoted = excerpt(bomb)
    assert quoted.startswith("[[[[...]") and quoted.endswith("chars]")
    assert len(quoted) < EXCERPT_CHARS + 40


def test_a_number_too_long_to_print_says_how_long_it_is():
    assert excerpt(10 ** 5000) == "<a number of about 5,001 digits>"
