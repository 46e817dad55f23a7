"""The pieces that keep a scan linear in the file's size give the answers they replaced.

How fast hostile files scan is measured by ``python -m bench.scan_bench --hostile-only``
(time for 4x the bytes); here, that the indexed line lookups and the bounded name search
answer as the plain searches did.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from erp.scan._jwt import _MAX_NAME, _jwt_names
from erp.scan._text import Text


@given(st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n")))
def test_line_bounds_from_the_index_are_those_of_a_search(data: bytes) -> None:
    text = Text(data)
    for offset in range(len(data) + 1):
        end = data.find(b"\n", offset)
        assert text.line_start(offset) == data.rfind(b"\n", 0, offset) + 1
        assert text.line_end(offset) == (len(data) if end < 0 else end)


def test_names_holding_jwt_are_found_once_each() -> None:
    lower = b"jwt_secret = 1\nmy_jwt.key: 2\nfoojwt = 3\njwt_jwt_secret = 4\n"
    names = [lower[s:e] for s, e in _jwt_names(lower)]
    assert names == [b"jwt_secret", b"my_jwt.key", b"jwt_jwt_secret"]


def test_a_run_of_jwt_longer_than_any_name_is_no_name() -> None:
    """'jwtjwtjwt...' (an attacker's file) yields nothing after the first few hundred bytes."""
    lower = b"jwt" * 10_000
    assert all(e - s <= 2 * _MAX_NAME + 3 for s, e in _jwt_names(lower))
    assert len(list(_jwt_names(lower))) <= _MAX_NAME
