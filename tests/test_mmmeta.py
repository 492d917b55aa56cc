"""`meta import --mmmeta`: what the real mmmeta 0.4.4 left in a data folder (its
_mmmeta/config.yml, metadata JSON files beside the files they describe, its db CSVs and its
_store/) goes into the shared metadata and the team store (README: Moving over from
S3Synchrony, fsmirror and mmmeta)."""
from __future__ import annotations

import json

import yaml
from mmmeta import mmmeta

from tests.conftest import Team

CONFIG = {"metadata": {"file_name": "_file_name", "unique": "content_hash",
                       "required": ["published_at"],
                       "include": ["title", "pages", "publisher:name"]}}


def _describe(member, rel: str, **meta) -> None:
    """A data file and mmmeta's metadata file for it: ``<stem>.json`` beside it."""
    member.write(rel, f"the bytes of {rel}")
    folder, _, name = rel.rpartition("/")
    stem = name.rsplit(".", 1)[0]
    member.write(f"{folder}/{stem}.json" if folder else f"{stem}.json",
                 json.dumps({"_file_name": name, **meta}))


def test_mmmeta_files_db_and_store_are_imported(tmp_path):
    team = Team("local", tmp_path)
    alice, bob = team.alice, team.bob
    alice.write("_mmmeta/config.yml", yaml.safe_dump(CONFIG))
    _describe(alice, "reports/c1.pdf", content_hash="h1", title="One", pages=12,
              published_at="2024-01-02T03:04:05", publisher={"name": "ACME"},
              scraped_by="not a listed key")
    _describe(alice, "deep/er/still/c2.pdf", content_hash="h2", title="Two", pages=3,
              published_at="2024-02-01")
    _describe(alice, "c3.pdf", content_hash="h3", title="Three", published_at="2023-05-06")
    alice.write("data/table.json", json.dumps({"rows": [1, 2]}))  # a JSON data file
    m = mmmeta(str(alice.data))  # the real package, as its users ran it
    m.generate()
    alice.delete("c3.json")  # c3's metadata now lives in mmmeta's db only
    m.store["last_crawl"] = "2024-03-01T12:00:00"
    m.store["crawled"] = 42
    assert list((alice.data / "_mmmeta" / "db").glob("*.append"))
    assert (alice.data / "_mmmeta" / "_store" / "last_crawl").is_file()
    alice.sync()

    r = alice.run("meta", "import", "--mmmeta", check_rc=0)
    # 2 JSON files and 3 db rows (c1 and c2 are in both): 5 records, 15 values
    assert "Read 5 mmmeta records: 15 value(s) set" in r.stdout, r.stdout
    assert "last_crawl" in r.stdout and "crawled" in r.stdout
    bob.sync()
    c1 = json.loads(bob.run("meta", "get", "reports/c1.pdf", "--json", check_rc=0).stdout)
    assert c1 == {"_file_name": "c1.pdf", "content_hash": "h1", "title": "One", "pages": 12,
                  "published_at": "2024-01-02T03:04:05Z", "publisher:name": "ACME"}
    c2 = json.loads(bob.run("meta", "get", "deep/er/still/c2.pdf", "--json",
                            check_rc=0).stdout)
    assert c2["title"] == "Two" and c2["published_at"] == "2024-02-01T00:00:00Z"
    c3 = json.loads(bob.run("meta", "get", "c3.pdf", "--json", check_rc=0).stdout)
    assert c3["title"] == "Three" and c3["content_hash"] == "h3"
    assert json.loads(bob.run("meta", "get", "data/table.json", "--json",
                              check_rc=0).stdout) == {}
    assert bob.run("store", "get", "crawled", check_rc=0).stdout.strip() == "42"
    assert "2024-03-01T12:00:00Z" in bob.run("store", "get", "last_crawl", check_rc=0).stdout

    # once: a second import changes nothing; the team's newer values are never replaced
    bob.run("meta", "set", "c3.pdf", "title=Three, revised", check_rc=0)
    bob.run("store", "set", "crawled", "43", check_rc=0)
    alice.sync()
    r = alice.run("meta", "import", "--mmmeta", check_rc=0)
    assert " 0 value(s) set, 0 removed" in r.stdout and "0 key(s) set" in r.stdout, r.stdout
    assert json.loads(alice.run("meta", "get", "c3.pdf", "--json").stdout)["title"] == \
        "Three, revised"
    assert alice.run("store", "get", "crawled").stdout.strip() == "43"
