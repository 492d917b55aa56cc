"""Moves and copies cost no transfer (docs/decision-table.md#moves): renaming a folder of
large files, or copying one, sends and receives under 1% of their bytes, counted on the wire
by a small TCP proxy between the members and the S3 server; on the folder remote the run
reports 0 bytes moved. Every version stays listed and the old paths are archived."""
from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from .conftest import Team, new_bucket

MIB = 1 << 20


class CountingProxy:
    """127.0.0.1:port -> the S3 server, counting the bytes each way."""

    def __init__(self, target: str):
        host, port = target.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.sent = self.received = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def _count(self, up: bool, n: int) -> None:
        with self._lock:
            if up:
                self.sent += n
            else:
                self.received += n

    def _pump(self, src, dst, up: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._count(up, len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def counted_team(request, tmp_path, remote_kind):
    if remote_kind == "local":
        yield Team("local", tmp_path), None
        return
    endpoint = request.getfixturevalue("aws_env")
    proxy = CountingProxy(endpoint)
    yield Team("s3", tmp_path, new_bucket(endpoint), proxy.url), proxy
    proxy.close()


def synced(member, proxy, *args) -> tuple[dict, int]:
    if proxy:
        proxy.reset()
    r = member.run("--yes", "--json", *args, check_rc=0)
    wire = proxy.sent + proxy.received if proxy else 0
    return json.loads(r.stdout), wire


def test_renaming_a_folder_of_large_files_sends_nothing(counted_team):
    team, proxy = counted_team
    alice, bob = team.alice, team.bob
    contents = {f"old/f{i}.bin": os.urandom(4 * MIB + i) for i in range(3)}
    for p, c in contents.items():
        alice.write(p, c)
    synced(alice, proxy)
    synced(bob, proxy)
    total = sum(len(c) for c in contents.values())
    (alice.data / "old").rename(alice.data / "new")
    out, wire = synced(alice, proxy)
    assert {a["action"] for a in out["actions"]} == {"move_remote"}
    assert out["summary"]["bytes"] == 0
    assert wire < total / 100, f"alice's rename cost {wire} bytes on the wire"
    out, wire = synced(bob, proxy)
    assert {a["action"] for a in out["actions"]} == {"move_local"}
    assert wire < total / 100, f"bob's rename cost {wire} bytes on the wire"
    moved = {p.replace("old/", "new/"): c for p, c in contents.items()}
    assert alice.files() == bob.files() == team.remote_files() == moved
    assert set(contents.values()) <= set(team.archive().values()), "old paths archived"
    assert set(contents.values()) <= set(bob.trash().values()), "old paths trashed"
    log = json.loads(bob.run("log", "--json", check_rc=0).stdout)["versions"]
    events = {(v["path"], v["event"]) for v in log}
    assert {("new/f0.bin", "moved"), ("old/f0.bin", "deleted")} <= events


def test_a_copy_of_a_large_file_is_made_where_its_content_already_is(counted_team):
    team, proxy = counted_team
    alice, bob = team.alice, team.bob
    data = os.urandom(6 * MIB)
    alice.write("a/big.bin", data)
    synced(alice, proxy)
    synced(bob, proxy)
    alice.write("b/copy.bin", data)
    out, wire = synced(alice, proxy)
    assert [a["action"] for a in out["actions"]] == ["upload"]
    assert out["summary"]["bytes"] == 0 and wire < len(data) / 100
    out, wire = synced(bob, proxy)
    assert [a["action"] for a in out["actions"]] == ["download"]
    assert out["summary"]["bytes"] == 0 and wire < len(data) / 100
    assert bob.read("b/copy.bin") == data and team.remote_files()["b/copy.bin"] == data
    # the content of a deleted file comes back from the archive, not from here
    alice.delete("a/big.bin")
    alice.delete("b/copy.bin")
    synced(alice, proxy, "--force")
    alice.write("c/again.bin", data)
    out, wire = synced(alice, proxy)
    assert out["summary"]["bytes"] == 0 and wire < len(data) / 100
    assert team.remote_files()["c/again.bin"] == data


def test_a_local_copy_is_a_file_of_its_own(team):
    """Content reused from another local file is copied, never hard-linked: editing one
    file in place must not change the other (or the trash)."""
    alice, bob = team.alice, team.bob
    for name in ("a.csv", "b.csv", "old/c.csv"):
        alice.write(name, "the same bytes")
    alice.sync()
    bob.sync()
    (alice.data / "old").rename(alice.data / "new")
    alice.sync()
    bob.sync()
    paths = [bob.data / p for p in ("a.csv", "b.csv", "new/c.csv")]
    assert len({os.stat(p).st_ino for p in paths}) == 3
    with open(paths[0], "r+b") as f:  # an editor writing in place
        f.write(b"THE")
    assert bob.read("b.csv") == bob.read("new/c.csv") == b"the same bytes"
    assert b"the same bytes" in bob.trash().values()


def test_shared_metadata_moves_with_the_file(team):
    alice, bob = team.alice, team.bob
    alice.write("old/report.pdf", "pdf bytes")
    alice.sync()
    alice.run("meta", "set", "old/report.pdf", "kind=report", "year=2024", check_rc=0)
    bob.sync()
    (alice.data / "old").rename(alice.data / "new")
    out = json.loads(alice.run("--yes", "--json", check_rc=0).stdout)
    assert [a["action"] for a in out["actions"]] == ["move_remote"]
    got = json.loads(bob.run("files", "--json", "--where", "year=2024",
                             check_rc=0).stdout)["files"]
    assert [f["File"] for f in got] == ["new/report.pdf"]
