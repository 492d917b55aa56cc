"""The diff engine on values (compare/): two byte strings in, a FileDiff out; no remote."""
from __future__ import annotations

import pytest

from s3sync_mirror.compare.files import compare
from s3sync_mirror.compare.tables import key_for
from s3sync_mirror.core.errors import UsageError


def test_tsv_by_a_two_column_key_keeps_leading_zeros():
    old = b"zip\tday\tn\n007\t1\t5\n008\t1\t6\n"
    new = b"zip\tday\tn\n007\t1\t5\n008\t1\t7\n009\t2\t1\n"
    d = compare("t.tsv", old, new, key=("zip", "day"))
    assert (d.kind, d.rows_added, d.rows_removed, d.rows_changed) == ("table", 1, 0, 1)
    assert d.changed.to_dict("records") == [{"key": ("008", "1"), "column": "n", "old": 6,
                                             "new": 7}]
    assert list(d.added["zip"]) == ["009"]
    assert d.as_json()["changes"][0]["key"] == ["008", "1"]


def test_a_retyped_column_compares_by_value_and_missing_on_both_sides_is_no_change():
    old = b"id,v,w\n1,1,\n2,2,x\n"
    new = b"id,v,w\n1,1.0,\n2,2.5,x\n"
    d = compare("r.csv", old, new, key=["id"])
    assert d.columns_retyped == (("v", "int64", "float64"),)
    assert d.rows_changed == 1
    assert d.changed.to_dict("records") == [{"key": "2", "column": "v", "old": 2, "new": 2.5}]


def test_columns_removed_and_rows_by_content_over_the_common_columns():
    d = compare("c.csv", b"a,b,c\n1,2,3\n4,5,6\n", b"a,b\n1,2\n7,8\n")
    assert d.columns_removed == ("c",) and d.columns_added == ()
    assert (d.rows_added, d.rows_removed) == (1, 1)
    assert d.added.to_dict("records") == [{"a": 7, "b": 8}]


def test_a_whole_table_added_or_removed_counts_its_rows():
    d = compare("n.jsonl", None, b'{"a": 1}\n{"a": 2}\n', key=("a",))
    assert (d.status, d.kind, d.rows_added, d.rows_new) == ("added", "table", 2, 2)
    gone = compare("n.csv", b"a\n1\n", None)
    assert (gone.status, gone.rows_removed) == ("removed", 1)


def test_a_table_that_does_not_parse_is_compared_as_text_with_a_note():
    d = compare("bad.jsonl", b'{"a": 1}\n', b'{"a": 1}\nnot json\n')
    assert d.kind == "text" and d.lines_added == 1
    assert d.notes and "compared as text" in d.notes[0]


def test_binary_and_identical_files():
    d = compare("x.bin", b"\0ab", b"\0abc")
    assert (d.kind, d.old_size, d.new_size) == ("binary", 3, 4)
    assert d.old_checksum != d.new_checksum
    assert compare("same.txt", b"x\n", b"x\n").status == "same"


def test_duplicate_key_is_refused_and_config_patterns_pick_keys():
    with pytest.raises(UsageError, match="not unique in the new version"):
        compare("d.csv", b"id\n1\n", b"id\n1\n1\n", key=("id",))
    patterns = {"raw/*.csv": ["id"], "*.parquet": ["k", "j"]}
    assert key_for("raw/a.csv", patterns) == ("id",)
    assert key_for("deep/x.parquet", patterns) == ("k", "j")
    assert key_for("other/a.csv", patterns) == ()


def test_the_config_diff_keys_are_checked(tmp_path):
    from s3sync_mirror.config import settings_from_document
    from s3sync_mirror.core.errors import ConfigError

    (tmp_path / "remote").mkdir()
    base = {"storage": {"provider": "local", "tenant": str(tmp_path / "remote"),
                        "namespace": "p/Data"}}
    ok = settings_from_document({**base, "diff": {"keys": {"raw/*.csv": "id",
                                                           "*.pq": ["a", "b"]}}},
                                None, tmp_path)
    assert ok.diff_keys == {"raw/*.csv": ("id",), "*.pq": ("a", "b")}
    for bad, says in (({"keys": {"*.csv": 5}}, "diff.keys.*.csv"),
                      ({"key": {}}, "diff.key: unknown key"), ("id", "diff: must be a mapping")):
        with pytest.raises(ConfigError, match=says.replace("*", r"\*").replace(".", r"\.")):
            settings_from_document({**base, "diff": bad}, None, tmp_path)
