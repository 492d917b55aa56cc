"""Which relative paths name data files (docs/promises.md#bad-input-is-refused)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3sync_mirror.core import paths
from s3sync_mirror.core.errors import UnsafePathError


@pytest.mark.parametrize("bad,why", [
    ("", "empty"), ("/abs", "absolute"), ("C:/x", "absolute"), ("a\\b", "backslash"),
    ("a\x00b", "NUL"), ("../x", "'..'"), ("a/../b", "'..'"), ("a/..", "'..'"),
    (".S3/x", ".S3"), (".s3", ".S3"), ("a\nb", "control"),
])
def test_refused(bad, why):
    assert why in paths.unsafe_reason(bad)
    with pytest.raises(UnsafePathError):
        paths.check(bad, "test")


@pytest.mark.parametrize("good", ["a", "a/b/c.csv", "dir with spaces/ünï.csv", "a..b",
                                  ".hidden", "x/.S3", "..a", "日本/データ.csv"])
def test_accepted(good):
    assert paths.unsafe_reason(good) is None
    assert paths.check(good) == paths.nfc(good)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4).map("/".join))
def test_an_accepted_path_stays_inside_the_folder(p):
    if paths.unsafe_reason(p) is None:
        parts = p.split("/")
        assert ".." not in parts and "" not in parts and "." not in parts
        assert not p.startswith("/") and "\\" not in p and "\x00" not in p
        assert parts[0].lower() != ".s3"


def test_in_scope():
    assert paths.in_scope("raw/a", ("raw",))
    assert not paths.in_scope("rawx/a", ("raw",))
    assert paths.in_scope("anything", ())
    assert paths.in_scope("x", ("",))
