"""Text from Slack and Blocks is always storable, and changed only where it could not be stored."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.storable import REPLACEMENT, storable, storable_tree

# Any code point at all, lone surrogates and NUL included (what a JSON "\\uXXXX" escape can produce).
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))


@settings(max_examples=500, deadline=None)
@given(ANY_TEXT)
def test_the_result_can_always_be_stored(text: str) -> None:
    cleaned = storable(text)
    cleaned.encode("utf-8")  # SQLite and PostgreSQL both need valid UTF-8
    assert "\x00" not in cleaned  # PostgreSQL refuses NUL in text


@settings(max_examples=500, deadline=None)
@given(ANY_TEXT)
def test_only_surrogates_and_nul_are_replaced(text: str) -> None:
    assert storable(text) == _expected(text)


def _expected(text: str) -> str:
    """The rule spelled out one character at a time."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        pair = text[index : index + 2]
        if len(pair) == 2 and "\ud800" <= pair[0] <= "\udbff" and "\udc00" <= pair[1] <= "\udfff":
            out.append(chr(0x10000 + ((ord(pair[0]) - 0xD800) << 10) + ord(pair[1]) - 0xDC00))
            index += 2
            continue
        out.append(REPLACEMENT if char == "\x00" or "\ud800" <= char <= "\udfff" else char)
        index += 1
    return "".join(out)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")))
def test_storable_text_is_unchanged(text: str) -> None:
    assert storable(text) is text


def test_a_split_emoji_is_joined_and_half_of_one_is_replaced() -> None:
    assert storable("a\ud83d\ude00b") == "a😀b"
    assert storable("cut \ud83d here\x00") == f"cut {REPLACEMENT} here{REPLACEMENT}"


def test_every_string_of_a_json_tree_is_cleaned() -> None:
    tree = {"text\x00": ["ok", {"deep": "\udead"}], "n": 3, "none": None}
    assert storable_tree(tree) == {f"text{REPLACEMENT}": ["ok", {"deep": REPLACEMENT}], "n": 3, "none": None}
