"""``init``: write a commented ``s3sync_mirror.yml`` and keep the data folder out of git."""
from __future__ import annotations

from pathlib import Path

from ..core import layout
from ..config import CONFIG_NAME, MIRROR, repo_name
from ..core.errors import UsageError
from ..platforms import registry

TEMPLATE = """\
# s3sync_mirror: share {data_dir}/ with your team through one remote.
# Run `python -m s3sync_mirror` in this repo to sync; `status` shows the plan only.
storage:
  # s3: AWS S3 or an S3-compatible server (MinIO, Ceph, R2...). gcs: Google Cloud
  # Storage. blob: Azure Blob Storage. local: a plain folder (a mounted share).
  provider: {provider}
  # s3, gcs: the bucket name. blob: the container name. local: the remote folder
  # (absolute, or relative to this file).
  tenant: {tenant}
  # Key prefix inside the tenant, the same for every clone (init resolved MIRROR, which
  # means "<repo name from git's origin, else the folder's name>/<data_dir>").
  namespace: {namespace}
  # Optional: an S3-compatible server, e.g. http://127.0.0.1:9000 (AWS_ENDPOINT_URL works
  # too); for gcs and blob an emulator or another cloud's endpoint.
  endpoint_url: {endpoint_url}
  # Optional AWS profile and region. Credentials never go in this file: they come from
  # each provider's own chain. s3: the environment, ~/.aws (profiles, SSO) or an instance
  # role. gcs: `gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS.
  # blob: AZURE_STORAGE_CONNECTION_STRING, or `az login` (DefaultAzureCredential).
  profile: null
  region: null
# The shared folder, relative to the repo root.
data_dir: {data_dir}
# Leave null: who "I" am is per member, never in this shared file. Each member sets it
# with `git config s3sync-mirror.user NAME` (this clone only), $S3SYNC_MIRROR_USER or
# --user; else git's user.name, else the login name.
user: null
# Files the whole team leaves out of the sync (gitignore-style); each clone may add its
# own in {data_dir}/{ignore_file}.
ignore: ["*.tmp", ".DS_Store"]
# Optional: where code objects keep their artifacts (see the README, "Mirrored paths").
# mirrors:
#   etl: {{root: etl, prefix: MIRROR, output_name: out, output_format: parquet}}
"""


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    text = str(value)
    return text if text.replace("-", "").replace("_", "").replace(".", "").replace(
        "/", "").isalnum() else f"'{text}'"


def init_repo(repo_root: Path, *, provider: str = "local", tenant: str | None = None,
              namespace: str = "MIRROR", data_dir: str = "Data",
              endpoint_url: str | None = None, force: bool = False) -> list[str]:
    """Write the config and the .gitignore entry. Returns what was done, for the user."""
    repo_root = Path(repo_root).resolve()
    cfg = repo_root / CONFIG_NAME
    if cfg.exists() and not force:
        raise UsageError(f"{cfg} already exists; edit it, or pass --force to overwrite it")
    if provider not in registry.sync_providers():
        raise UsageError(f"--provider must be one of {', '.join(registry.sync_providers())}, "
                         f"not {provider!r}")
    if namespace == MIRROR:  # written out, so clones in other folders agree
        namespace = f"{repo_name(repo_root)}/{data_dir.strip('/')}"
    made = None
    if tenant is not None and provider == "local" and not (repo_root / tenant).is_dir():
        raise UsageError(f"--tenant {tenant}: the folder {(repo_root / tenant).resolve()} does "
                         f"not exist (an unmounted share?): mount the share, or create the "
                         f"folder, then run init again; nothing was written")
    if tenant is None:
        tenant = f"../{repo_root.name}-remote" if provider == "local" else \
            ("your-container-name" if provider == "blob" else "your-bucket-name")
        if provider == "local":  # a folder remote must exist; a default one is made here
            made = (repo_root / tenant).resolve()
            made.mkdir(parents=True, exist_ok=True)
    cfg.write_text(TEMPLATE.format(ignore_file=f"{layout.STATE_DIR}/{layout.IGNORE_FILE}",
                                   provider=provider, tenant=_yaml_scalar(tenant),
                                   namespace=_yaml_scalar(namespace),
                                   endpoint_url=_yaml_scalar(endpoint_url),
                                   data_dir=_yaml_scalar(data_dir)), encoding="utf-8")
    done = [f"wrote {cfg}"] + ([f"made the remote folder {made} (point storage.tenant at "
                                f"your team's share)"] if made else [])
    (repo_root / data_dir).mkdir(parents=True, exist_ok=True)
    gitignore = repo_root / ".gitignore"
    entry = f"/{data_dir.strip('/')}/"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if not any(ln.strip() in (entry, entry.lstrip("/"), entry.rstrip("/"),
                              entry.strip("/")) for ln in lines):
        with open(gitignore, "a", encoding="utf-8") as f:
            if lines and lines[-1].strip():
                f.write("\n")
            f.write(f"# the shared data folder travels through s3sync_mirror, not git\n{entry}\n")
        done.append(f"added {entry} to {gitignore}")
    return done
