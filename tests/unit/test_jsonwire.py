"""Parsing request bodies and writing replies (targetd_core.jsonwire)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targetd_core.jsonwire import MAX_DEPTH, BigNumber, JsonRefused, dumps, parse


# Bounds under Python's 4300-digit int-to-text limit: Debian 12's hypothesis (6.67)
# writes them out in the strategy's repr. Past 10**4000 the text is built directly.
@given(st.integers(min_value=-(10**4200), max_value=10**4200))
def test_integers_of_any_size_round_trip(n: int) -> None:
    text = repr(n) if abs(n) < 10**4000 else None
    if text is None:  # beyond the int-to-text limit: build the text directly
        text = ("-" if n < 0 else "") + "9" * 5000
    value = parse('{"id": ' + text + "}")["id"]
    out = dumps({"jsonrpc": "2.0", "result": None, "id": value}).decode()
    assert '"id":' + text in out


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[NaN]", '{"a":-Infinity}'])
def test_nan_and_infinity_are_refused(text: str) -> None:
    with pytest.raises(JsonRefused, match="is not JSON"):
        parse(text)


@pytest.mark.parametrize("text", ["1e309", "-1e400", "1.5e99999", "9" * 400 + ".0"])
def test_numbers_beyond_a_double_are_kept_as_text(text: str) -> None:
    value = parse("[" + text + "]")[0]
    assert value == BigNumber(text) and "beyond a double" in repr(value)
    assert (
        dumps({"jsonrpc": "2.0", "result": 1, "id": value})
        == ('{"id":' + text + ',"jsonrpc":"2.0","result":1}').encode()
    )


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=3000))
def test_depth_limit(depth: int) -> None:
    text = "[" * depth + "]" * depth
    if depth <= MAX_DEPTH:
        assert parse(text) is not None
    else:
        with pytest.raises(JsonRefused, match="nested deeper"):
            parse(text)


def test_big_number_repr_does_not_repeat_the_digits() -> None:
    assert repr(BigNumber("-" + "1" * 5000)) == "<an integer of 5000 digits>"


def test_a_reply_that_is_not_json_becomes_an_error_for_that_reply_only() -> None:
    replies = [
        {"jsonrpc": "2.0", "result": float("nan"), "id": 1},
        {"jsonrpc": "2.0", "result": 2, "id": 2},
    ]
    out = json.loads(dumps(replies))
    assert out[0]["error"]["code"] == -1 and out[0]["id"] == 1
    assert out[1] == {"jsonrpc": "2.0", "result": 2, "id": 2}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
        max_leaves=20,
    )
)
def test_ordinary_json_is_parsed_like_the_standard_library(value: object) -> None:
    text = json.dumps(value)
    try:
        expected = json.loads(text)
    except RecursionError:  # pragma: no cover
        return
    assert parse(text) == expected


@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\aé€\U0001f600'),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=20,
    ),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-16-le"]),
)
def test_bytes_in_every_encoding_json_allows_parse_like_the_standard_library(
    value: object, encoding: str
) -> None:
    """One decoder made once, and the nesting walk skipped for bodies with few brackets,
    answer as ``json.loads`` does (brackets inside strings count, so may force a walk,
    never skip one that is needed)."""
    body = json.dumps(value, ensure_ascii=False).encode(encoding)
    assert parse(body) == json.loads(body)


@settings(max_examples=60)
@given(
    depth=st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 3), padding=st.integers(0, 40)
)
def test_depth_limit_with_brackets_inside_strings(depth: int, padding: int) -> None:
    text = '{"a":' * depth + '"' + "[{" * padding + '"' + "}" * depth
    if depth <= MAX_DEPTH:
        assert parse(text) is not None
    else:
        with pytest.raises(JsonRefused, match="nested deeper"):
            parse(text)
