"""``artifact put|get|list|import`` on the command line (argparse wiring and what they print;
the work is in api/artifacts.py)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..core.errors import EXIT_FAILURE, EXIT_OK, UsageError

COMMANDS = ("artifact",)
VALUED = {"--class", "--set", "--from", "--run-id"}
_OBJECT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

HELP = """\
A content-addressed artifact store on the team's remote, in cas-manifest's model: every
file is stored once under its SHA-256 (in <prefix>/.S3/cas/xx/rest, hashfs's layout, so
cas-manifest's Registry over HashFS(root, depth=1, width=2) or S3HashFS reads it), and
described by a self-describing manifest {"class": NAME, "value": {...}} that is itself
stored by its hash. A content already on the remote (a synced file, an archived version)
is copied server-side, never sent again. `get` checks every byte against its SHA-256.

`put` records where a result came from: the pin of the data (s3sync_mirror.lock's
content id) and the git commit, in the manifest's value ("pin", "commit"), so that
`artifact list --json` can be queried for them. `prune` never removes an artifact.

examples:
  s3sync-mirror artifact put model.pkl metrics.json --class Model --set lr=0.01
  s3sync-mirror artifact put etl.lift:lift_data      the newest run's output of a mirror
  s3sync-mirror artifact list --json                 hash, class, pin, commit, value
  s3sync-mirror artifact get 5fef4a --to out/        the files a manifest names, checked
  s3sync-mirror artifact get 5fef4a                  the object's bytes on stdout
  s3sync-mirror artifact import /data/hashfs         copy an existing hashfs store in
  s3sync-mirror artifact import s3://bucket/cas      ... or a cas-manifest S3HashFS prefix
  s3sync-mirror artifact get HASH --from /data/hashfs    read one without importing"""


def add_commands(sub, common, fmt) -> None:
    p = sub.add_parser("artifact", parents=[common], formatter_class=fmt, description=HELP,
                       help="the content-addressed artifact store: put, get, list, import")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    q = verbs.add_parser("put", parents=[common], formatter_class=fmt,
                         help="store files (or a mirror's output) with a manifest",
                         description="Store each FILE once by its SHA-256 (a folder: every "
                                     "file inside), then a manifest {\"class\": NAME, "
                                     "\"value\": {\"files\": {name: SHA-256}, \"pin\", "
                                     "\"commit\", ...--set}}; prints the manifest's hash last. "
                                     "A module:qualname stores what that FSMirror object "
                                     "wrote in its newest run (class MirrorOutput).\n\n" + HELP)
    q.add_argument("files", nargs="*", metavar="FILE", help="files, folders, or module:qualname")
    q.add_argument("--class", dest="cls", default="", metavar="NAME",
                   help="the manifest's class (default: Artifact; MirrorOutput for an object)")
    q.add_argument("--set", dest="values", nargs="+", action="extend", default=[],
                   metavar="KEY=VALUE", help="fields of the manifest's value (typed: 2024 is "
                                             "an int, 0.5 a float, true a bool)")
    q.add_argument("--run-id", help="with module:qualname: this run instead of the newest")
    q.add_argument("--repair", action="store_true",
                   help="replace a stored copy that `get` found damaged")
    q.add_argument("-q", "--quiet", action="store_true", help="print the manifest's hash only")
    q = verbs.add_parser("get", parents=[common], formatter_class=fmt,
                         help="an object's bytes, or a manifest's files into a folder",
                         description="Read object HASH (a unique prefix of 4+ digits will "
                                     "do), every byte checked against its SHA-256. Without "
                                     "--to its bytes go to stdout (a manifest: its JSON); "
                                     "with --to DIR a manifest's files are written under the "
                                     "names it gives them, a plain file as DIR/<hash>.")
    q.add_argument("hash", metavar="HASH")
    q.add_argument("--to", metavar="DIR", help="write into this folder")
    q.add_argument("--from", dest="store", metavar="STORE",
                   help="read an existing hashfs folder or s3://BUCKET/PREFIX instead")
    q = verbs.add_parser("list", parents=[common], help="the manifests put or imported here",
                         description="Every manifest put or imported here, oldest first: "
                                     "hash, class, when, by whom, files, pin, commit.")
    q.add_argument("--json", action="store_true",
                   help='print {"artifacts": [{"hash", "class", "stored", "by", "files", '
                        '"pin", "commit", "value"}]}')
    q = verbs.add_parser("import", parents=[common], formatter_class=fmt,
                         help="copy an existing hashfs / S3HashFS store in",
                         description="Copy every object of an existing hashfs folder (any "
                                     "depth and width) or cas-manifest S3HashFS prefix "
                                     "(s3://BUCKET/PREFIX) into this store, each checked "
                                     "against its SHA-256; its manifests are listed from "
                                     "then on. The source is only read.")
    q.add_argument("source", metavar="PATH_OR_URL")


def _values(texts) -> dict:
    from ..core.typed import assignment

    out = {}
    for text in texts:
        if "=" not in text:
            raise UsageError(f"--set {text!r}: write KEY=VALUE (e.g. --set lr=0.01); files "
                             f"go before --set")
        key, value = assignment(text)
        if key == "files":
            raise UsageError("--set files=...: `files` is the manifest's list of files; "
                             "choose another key")
        out[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def _put(args, api) -> int:
    values = _values(args.values)
    if not args.files:
        raise UsageError("artifact put needs the files to store, before any --set: "
                         "`artifact put model.pkl metrics.json --set lr=0.01`")
    objects = [f for f in args.files if _OBJECT.match(f) and not Path(f).exists()]
    if objects and len(args.files) > 1:
        raise UsageError(f"{objects[0]} is a code object: put it on its own (its output "
                         f"is one artifact)")
    if objects:
        checksum, done = api.put_output(objects[0], ".", run_id=args.run_id,
                                        values=values, config=args.config)
    else:
        checksum, done = api.put_files(args.files, ".", cls=args.cls or "Artifact",
                                       values=values, config=args.config, repair=args.repair)
    if args.quiet:
        print(checksum)
        return EXIT_OK
    words = {"sent": "sent", "copied": "copied on the remote", "kept": "already stored"}
    for name, (h, how) in done.items():
        print(f"  {h[:16]}  {words[how]:<20}  {name}")
    counts = {how: sum(1 for _, x in done.values() if x == how) for how in words}
    print(f"stored {len(done)} file{'s' if len(done) != 1 else ''} ({counts['sent']} sent, "
          f"{counts['copied']} copied, {counts['kept']} already stored); manifest:")
    print(checksum)
    return EXIT_OK


def _get(args, api) -> int:
    if not args.to:
        sys.stdout.buffer.write(api.read_artifact(args.hash, ".", store=args.store,
                                                  config=args.config))
        sys.stdout.flush()
        return EXIT_OK
    for h, where in api.get_artifact(args.hash, args.to, ".", store=args.store,
                                     config=args.config):
        print(f"  {h[:16]}  verified  {where}")
    return EXIT_OK


def _list(args, api) -> int:
    rows = api.artifacts(".", config=args.config)
    if args.json:
        print(json.dumps({"artifacts": rows}, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("No artifacts: `artifact put FILE...` stores one.")
    for r in rows:
        files = f"{r['files']} file{'s' if r['files'] != 1 else ''}"
        print(f"{r['hash'][:16]}  {r['class']:<14}  {files:>9}  {r['stored']}  "
              f"{r['by']}  pin {r['pin'][:12] or '-'}  commit {r['commit'][:10] or '-'}")
    return EXIT_OK


def _import(args, api) -> int:
    counts = api.import_artifacts(args.source, ".", config=args.config)
    print(f"imported {counts['imported']} object{'s' if counts['imported'] != 1 else ''} "
          f"({counts['kept']} already stored), {counts['manifests']} manifest"
          f"{'s' if counts['manifests'] != 1 else ''} listed")
    if counts["damaged"]:
        print(f"error: {counts['message']}: the rest was imported; repair them at the "
              f"source and import again", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def dispatch(args) -> int:
    from ..api import artifacts as api

    return {"put": _put, "get": _get, "list": _list, "import": _import}[args.verb](args, api)
