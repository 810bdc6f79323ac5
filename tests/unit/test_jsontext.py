"""JSON read within bounds: what Python's json module lets through that JSON (and protobuf, and UTF-8) does not."""

from __future__ import annotations

import pytest
from encord_gateway import jsontext


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"a": NaN}', "holds NaN"),
        (b"[Infinity]", "holds Infinity"),
        (b"[-Infinity]", "holds -Infinity"),
        (b"[1e999]", "too large"),
        (b"[" * 1000 + b"]" * 1000, "nested deeper than 32"),  # Python's own limit: RecursionError
        (b"[" * 33 + b"]" * 33, "nested deeper than 32"),  # within Python's limit, beyond ours
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32"),
        (b'{"\\ud800": 1}', "key that is not valid Unicode"),
        (b'["\\udfff"]', "string that is not valid Unicode"),
        (b'{"a": {"b": "x\\ud83d"}}', "string that is not valid Unicode"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),  # more digits than Python converts
    ],
)
def test_what_json_forbids_is_refused_with_a_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(jsontext.JsonRefused) as refused:
        jsontext.load(raw)
    assert problem in refused.value.problem


def test_what_json_allows_is_read_as_json_module_reads_it() -> None:
    assert jsontext.load(b'{"a": [1, 2.5, "\\ud83d\\ude00", null, true]}') == {"a": [1, 2.5, "😀", None, True]}
    assert jsontext.load(b"[" * 32 + b"]" * 32) is not None  # exactly the bound
    assert jsontext.load('{"brackets in text": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {
        "brackets in text": "[" * 36
    }


def test_the_depth_bound_is_a_parameter() -> None:
    assert jsontext.load(b"[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(jsontext.JsonRefused):
        jsontext.load(b"[[[[1]]]]", max_depth=3)


def test_clean_text_removes_control_characters_and_cuts_to_the_limit() -> None:
    assert jsontext.clean_text("a\x00b\n\tc\x1b[2J\u202ed", 100) == "a b c [2J d"
    assert jsontext.clean_text("\ud800ok", 100) == "ok"  # a lone surrogate is not printable either
    cut = jsontext.clean_text("x" * 5000, 50)
    assert cut == "x" * 50 + "…"
    assert jsontext.clean_text("short", 50) == "short"


def test_one_deep_member_among_many_shallow_ones_is_found() -> None:
    shallow = b", ".join([b'{"a": [1, {"b": 2}]}'] * 500)
    with pytest.raises(jsontext.JsonRefused) as refused:
        jsontext.load(b"[" + shallow + b", " + b"[" * 40 + b"]" * 40 + b"]")
    assert "nested deeper than 32" in refused.value.problem
    assert len(jsontext.load(b"[" + shallow + b"]")) == 500  # wide but shallow: accepted
