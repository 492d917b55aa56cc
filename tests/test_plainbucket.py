"""A plain bucket (SPEC promise 6): every object the tool leaves on S3 reads back through a
stock ``boto3`` client with its default integrity check (boto3 >= 1.36 validates the
stored x-amz-checksum-sha256), byte-identical, after the real command line sent a file in
parts (or in one streamed PUT) and then renamed and copied it (server-side copies, the archive included), sent a
small file whole, replaced it (archived) and restored its first version, against moto as
shipped and as taught to keep checksums as AWS does; and every object of the prefix, the
state files included, comes down through the stock ``aws s3 cp --recursive`` the same."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from .conftest import AWS_ENV, teach_moto_aws_checksums

MIB = 1 << 20


@pytest.fixture
def remote_kind():
    return "s3"


@pytest.fixture(params=["moto as shipped", "moto as AWS"])
def s3_team(request, make_team, monkeypatch):
    if request.param == "moto as AWS":
        teach_moto_aws_checksums(monkeypatch)
    return make_team()


@pytest.mark.parametrize("way", ["in parts", "in one PUT"])
def test_multipart_file_moved_and_copied_reads_back_with_stock_boto3(s3_team, monkeypatch,
                                                                     way):
    team = s3_team
    alice, bob = team.alice, team.bob
    if way == "in parts":  # as a file above S3SYNC_MIRROR_SINGLE_PUT_MAX (512 MiB) goes
        monkeypatch.setenv("S3SYNC_MIRROR_SINGLE_PUT_MAX", "0")
    big = os.urandom(20 * MIB + 12345)  # over the 8 MiB threshold: in parts or streamed
    alice.write("big.bin", big)
    alice.sync()
    alice.data.joinpath("big.bin").rename(alice.data / "moved.bin")  # a move: one copy
    alice.write("copies/again.bin", big)  # the same content: a server-side copy
    alice.write("small.csv", "a,b\n1,2\n")  # whole, in one request
    alice.sync()
    alice.write("small.csv", "a,b\n3,4\n")  # the first version goes to the archive
    alice.sync()
    alice.run("restore", "small.csv", "--version", "2", check_rc=0)  # v1 is the live one
    alice.sync()  # the restored version goes up again

    plain = boto3.client("s3", endpoint_url=team.endpoint, region_name="us-east-1",
                         aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
    keys = [o["Key"] for page in plain.get_paginator("list_objects_v2").paginate(
        Bucket=team.bucket, Prefix=team.prefix + "/") for o in page.get("Contents", ())]
    data_keys = [k for k in keys if not k.split("/Data/", 1)[1].startswith(".S3/")]
    assert sorted(k.rsplit("/Data/", 1)[1] for k in data_keys) == \
        ["copies/again.bin", "moved.bin", "small.csv"]
    archived = [k for k in keys if "/.S3/archive/" in k]
    assert big in [plain.get_object(Bucket=team.bucket, Key=k)["Body"].read()
                   for k in archived]  # the moved file's old path was archived by a copy
    for key in keys:  # every object, the state files included
        body = plain.get_object(Bucket=team.bucket, Key=key)["Body"].read()
        if key in data_keys or key in archived:
            assert body in (big, b"a,b\n1,2\n", b"a,b\n3,4\n"), key
    bob.sync()
    assert bob.read("moved.bin") == big and bob.read("copies/again.bin") == big
    assert bob.read("small.csv") == b"a,b\n1,2\n"
    _every_object_reads_back_through_aws_s3_cp(team, plain, keys,
                                               Path(team.alice.repo).parent / "aws-cp")


def _every_object_reads_back_through_aws_s3_cp(team, plain, keys, folder: Path) -> None:
    """``aws s3 cp --recursive`` (the stock CLI, its default checks) of the whole prefix:
    every object arrives, byte-identical to what boto3 read."""
    env = {**os.environ, **AWS_ENV}
    aws = Path(sys.executable).with_name("aws")
    proc = subprocess.run([str(aws), "s3", "cp", "--recursive", "--only-show-errors",
                           "--endpoint-url", team.endpoint,
                           f"s3://{team.bucket}/{team.prefix}/", str(folder)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for key in keys:
        got = folder.joinpath(*key[len(team.prefix) + 1:].split("/")).read_bytes()
        assert got == plain.get_object(Bucket=team.bucket, Key=key)["Body"].read(), key
