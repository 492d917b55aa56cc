"""The one place that names the ``.S3`` files: the local state folder's files, the remote
state keys, the archive keys and the trash paths (docs/state-files.md describes each).

Every other module asks here; no other module spells a state file's name.
"""
from __future__ import annotations

import re
from .records import dataclass
from pathlib import Path

from .hashing import sha256_hex

CONFIG_NAME = "s3sync_mirror.yml"  # the committed config, at the repo root
LOCK_NAME = "s3sync_mirror.lock"  # the pin of the data, committed with the code, at the root
STATE_DIR = ".S3"

# Local, under <data_dir>/.S3/
VERSIONS_LOCAL = "versions_local.csv"  # this clone's baseline
BASELINE_CHANGES = "versions_local.changes.csv"  # a big baseline's changes (state/baselinechanges.py)
VERSIONS_REMOTE = "versions_remote.csv"  # also the remote state's name
REMOTE_ETAG = "versions_remote.etag"  # the ETag of the cached remote copy
REMOTE_HEAD = "state_head.json"  # the remote state's head as this clone last saw it
DELETED_REMOTE = "deleted_remote.csv"  # also the remote deletion log's name
DELETED_LOCAL = "deleted_local.csv"
IGNORE_FILE = "ignore_remote.txt"
JOURNAL = "journal.csv"  # uploads sent but not yet committed
HISTORY_PENDING = "history_pending.csv"  # this run's history rows until they are on the remote
RESTORED = "restored.json"  # versions `restore` put here, until a sync shares them
RESTORED_BEFORE = "restored.csv"  # its name before 0.1 (it always held JSON); still read
CHECKED_REMOTES = "remote_checked.txt"  # remotes found to honour conditional writes
RUN_LOCK = "sync.lock"
CLONE_ID = "clone_id"  # this clone's random id: its baseline is marked with it
REMOTE_PREFIX = "remote_prefix.txt"  # the remote prefix this clone's state belongs to
MEMBER_NOTE = "member_seen.json"  # when this clone last wrote its member record
SPARSE = "sparse.json"  # this clone's sparse selection (docs/metadata.md#sparse-selection)
SPARSE_BEFORE = "sparse_before.json"  # the selection before it widened, until a sync
#                                       brings back what the widening added
MARKS = "marks.json"  # this clone's own per-file marks, never uploaded
METADATA_SEEN = "metadata_seen.json"  # the shared metadata as this clone last read it
TMP, TRASH, CACHE = "tmp", "trash", "cache"

# Remote, relative to the remote root (the prefix or the remote folder)
VERSIONS_KEY = f"{STATE_DIR}/{VERSIONS_REMOTE}"
DELETED_KEY = f"{STATE_DIR}/{DELETED_REMOTE}"
STATE_LOG_ROOT = f"{STATE_DIR}/state_log"  # commits after the checkpoint (state/remotelog.py)
HEAD_KEY = f"{STATE_DIR}/state_head.json"  # names the newest commit (state/statehead.py)
ARCHIVE_ROOT = f"{STATE_DIR}/deleted"  # the archive as runs before the history kept it
CONTENT_ROOT = f"{STATE_DIR}/archive"  # the archive: each replaced version once, by SHA-256
HISTORY_ROOT = f"{STATE_DIR}/history"  # the history index: one segment per run
LEGACY_HISTORY = f"{HISTORY_ROOT}/legacy-archive.csv"  # ARCHIVE_ROOT, indexed once
TAGS_ROOT = f"{STATE_DIR}/tags"
PRUNE_PENDING = f"{STATE_DIR}/prune_pending.csv"  # archived objects a prune will remove
PRUNED = f"{STATE_DIR}/pruned.csv"  # archived objects a prune removed, and when
REMOTE_TMP = f"{STATE_DIR}/tmp"
REMOTE_LOCK = f"{STATE_DIR}/lock"
PROBE_KEY = f"{STATE_DIR}/conditional-write-probe"
METADATA_KEY = f"{STATE_DIR}/metadata.json"  # the team's per-file metadata
STORE_KEY = f"{STATE_DIR}/store.json"  # the team's small key-value store
MEMBERS_ROOT = f"{STATE_DIR}/members"  # one small record per member (meta/members.py)
CAS_ROOT = f"{STATE_DIR}/cas"  # the artifact store: hashfs's xx/rest layout (history/cas.py)
ARTIFACTS_ROOT = f"{STATE_DIR}/artifacts"  # one small record per manifest, for `artifact list`


def is_state_key(key: str) -> bool:
    """Whether a remote key lies in the state folder (never a data file)."""
    return key == STATE_DIR or key.startswith(STATE_DIR + "/")


def run_name(stamp: str, user: str, run_id: str) -> str:
    """``<stamp>-<user>-<run>``: one run's folder in the archive and in the trash."""
    slug = re.sub(r"[^\w.-]+", "_", user).strip("_") or "user"
    return f"{stamp}-{slug}-{run_id}"


def baseline_owner(remote_url: str, clone_id: str, data_dir: Path) -> str:
    """Who a baseline belongs to: this remote, this clone, this folder. A baseline marked
    with another owner (a copied clone or file, a changed namespace) is no evidence."""
    import os

    key = f"{remote_url}\n{clone_id}\n{os.path.realpath(data_dir)}"
    return sha256_hex(key.encode("utf-8"))[:16]


def archive_key(run: str, path: str) -> str:
    """Where runs before the history index kept a replaced version (still read)."""
    return f"{ARCHIVE_ROOT}/{run}/{path}"


def content_key(checksum: str) -> str:
    """Where the archive keeps the content with this SHA-256: once, whoever archived it."""
    return f"{CONTENT_ROOT}/{checksum[:2]}/{checksum}"


def cas_key(checksum: str) -> str:
    """Where the artifact store keeps the content with this SHA-256: hashfs's
    ``HashFS(root, depth=1, width=2)`` path (cas-manifest's S3HashFS layout), ``xx/rest``."""
    return f"{CAS_ROOT}/{checksum[:2]}/{checksum[2:]}"


def artifact_record_key(checksum: str) -> str:
    """The listing record of the manifest with this SHA-256 (who stored it, when, what)."""
    return f"{ARTIFACTS_ROOT}/{checksum}.json"


def history_key(run: str) -> str:
    """One run's segment of the history index."""
    return f"{HISTORY_ROOT}/{run}.csv"


def tag_key(name: str) -> str:
    return f"{TAGS_ROOT}/{name}.csv"


# Layout attribute -> file or folder name in the local state folder.
FILES = {"versions_local": VERSIONS_LOCAL, "baseline_changes": BASELINE_CHANGES,
         "versions_remote": VERSIONS_REMOTE,
         "remote_etag": REMOTE_ETAG, "remote_head": REMOTE_HEAD,
         "deleted_remote": DELETED_REMOTE,
         "deleted_local": DELETED_LOCAL, "ignore_file": IGNORE_FILE, "journal": JOURNAL,
         "checked_remotes": CHECKED_REMOTES, "history_pending": HISTORY_PENDING,
         "restored": RESTORED, "run_lock": RUN_LOCK, "clone_id": CLONE_ID,
         "remote_prefix": REMOTE_PREFIX,
         "sparse": SPARSE, "sparse_before": SPARSE_BEFORE, "marks": MARKS,
         "metadata_seen": METADATA_SEEN,
         "tmp": TMP, "trash": TRASH, "cache": CACHE}


@dataclass(frozen=True)
class Layout:
    """The local state folder of one data folder."""

    data_dir: Path

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / STATE_DIR

    def __getattr__(self, name: str) -> Path:
        """``layout.versions_local``, ``layout.trash``...: the files of ``FILES``."""
        if name in FILES:
            return self.root / FILES[name]
        raise AttributeError(name)

    def trash_path(self, run: str, path: str) -> Path:
        """Where a sync keeps the local version of ``path`` it replaced or deleted."""
        return self.trash.joinpath(run, *path.split("/"))

    def snapshot(self, csv_path: Path) -> Path:
        """The parsed-state snapshot of a versions CSV (derived data, see statecache)."""
        return self.cache / f"{Path(csv_path).stem}.marshal"

    @property
    def remote_log(self) -> Path:
        """The remote state's log entries this clone applied (a cache: see statelog)."""
        return self.cache / "remote_log"

    @property
    def state_files(self) -> list[Path]:
        """What ``reset`` removes (never trash/ or the ignore file: those are the user's)."""
        return [self.versions_local, self.baseline_changes, self.versions_remote,
                self.remote_etag,
                self.deleted_remote, self.deleted_local, self.journal, self.checked_remotes,
                self.remote_prefix]
