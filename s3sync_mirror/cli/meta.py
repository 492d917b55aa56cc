"""The commands ``files``, ``meta``, ``mark``, ``sparse``, ``store`` and ``info`` on the
command line: argparse wiring, and printing what api/meta.py returns (the words are in
ui/metaview.py)."""
from __future__ import annotations

import json

from ..core.valuenames import STATUSES, TYPES
from ..core.errors import EXIT_OK, EXIT_UNCONFIRMED

COMMANDS = ("files", "meta", "mark", "sparse", "store", "info")
VALUED = {"--where", "--status", "--type", "--unset"}

FILES_HELP = """\
The files of the remote and of this clone, merged: one row per path with its state
(who edited it, when, SHA-256, size), its sync status (what a sync would do now: in sync,
modified here, new here, deleted here, changed on remote, new on remote, deleted on
remote, conflict, or not held: outside this clone's sparse selection), the team's shared
metadata and this clone's marks. Nothing is transferred or written.

examples:
  s3sync-mirror files raw/                        the files under raw/
  s3sync-mirror files --where document_type=contract
  s3sync-mirror files --where year>=2024 --where imported!=true --json
  s3sync-mirror files --status "new on remote"    what the next sync downloads"""

WHERE_HELP = ("KEY=VALUE (also !=, <, <=, >, >=), compared as the kept value's type "
              "(year=2024 matches the int); KEY= matches files without KEY; repeatable")


def add_commands(sub, common, fmt) -> None:

    p = sub.add_parser("files", parents=[common], formatter_class=fmt,
                       help="list the files: state, sync status, metadata, marks",
                       description=FILES_HELP)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: all)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help=WHERE_HELP)
    p.add_argument("--status", choices=STATUSES, metavar="S",
                   help="only files with this status (" + ", ".join(STATUSES) + ")")
    p.add_argument("--json", action="store_true", help='print {"files": [...]}')
    _meta_command(sub, common, fmt)
    p = sub.add_parser("mark", parents=[common], help="set this clone's own marks on a file",
                       description="Set this clone's own per-file marks (never shared, "
                                   "never uploaded; kept in Data/.S3/marks.json), queryable "
                                   "with `files --where`.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("values", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--unset", action="append", default=[], metavar="KEY",
                   help="remove this mark (repeatable)")
    p.add_argument("--str", dest="as_text", action="store_true",
                   help="keep every value as text (no 2024 -> int)")
    _sparse_command(sub, common, fmt)
    _store_command(sub, common, fmt)
    p = sub.add_parser("info", parents=[common], help="a summary of the remote and this clone",
                       description="Files and bytes on the remote, the members and their "
                                   "last change, the latest changes, the archive's size, "
                                   "what this clone holds, the metadata keys, the store keys.")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _sub(parent, dest: str):
    s = parent.add_subparsers(dest=dest, metavar="ACTION")
    s.required = True
    return s


def _meta_command(sub, common, fmt) -> None:
    p = sub.add_parser("meta", help="the team's shared per-file metadata",
                       description="Shared per-file metadata, kept on the remote "
                                   "(.S3/metadata.json); every write is a compare-and-swap, "
                                   "and a key a teammate changed since you last read it is "
                                   "a conflict (exit 3), never overwritten silently.")
    s = _sub(p, "action")
    q = s.add_parser("set", parents=[common], help="set KEY=VALUE on a file")
    q.add_argument("path", metavar="PATH")
    q.add_argument("values", nargs="+", metavar="KEY=VALUE")
    q.add_argument("--str", dest="as_text", action="store_true",
                   help="keep every value as text (no 2024 -> int)")
    q = s.add_parser("get", parents=[common], help="show a file's metadata")
    q.add_argument("path", metavar="PATH")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("unset", parents=[common], help="remove keys from a file")
    q.add_argument("path", metavar="PATH")
    q.add_argument("keys", nargs="+", metavar="KEY")
    q = s.add_parser("import", parents=[common],
                     help="read sidecar files name.ext.meta.json",
                     description="Read the JSON sidecar files name.ext.meta.json of the "
                                 "data folder into the metadata of name.ext, keeping it in "
                                 "step: keys a sidecar no longer holds are removed (only "
                                 "those an import set). --mmmeta reads what mmmeta left: "
                                 "_mmmeta/config.yml, its metadata JSON files wherever "
                                 "they lie, _mmmeta/db and _mmmeta/_store.")
    q.add_argument("paths", nargs="*", metavar="PATH")
    q.add_argument("--mmmeta", action="store_true",
                   help="read mmmeta's files and _mmmeta/ folder (once; see the README)")


def _sparse_command(sub, common, fmt) -> None:
    p = sub.add_parser("sparse", help="hold only part of the folder in this clone",
                       description="Choose which files this clone holds (gitignore-style "
                                   "patterns, --where filters on the shared metadata). Files "
                                   "outside are never downloaded, uploaded or deleted, here "
                                   "or on the remote.")
    s = _sub(p, "action")
    for name, what in (("set", "hold only these"), ("add", "hold these too")):
        q = s.add_parser(name, parents=[common], help=what)
        q.add_argument("patterns", nargs="*", metavar="PATTERN")
        q.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                       help=WHERE_HELP)
    q = s.add_parser("list", parents=[common], help="show the selection")
    q.add_argument("--json", action="store_true")
    s.add_parser("off", parents=[common], help="hold every file again")


def _store_command(sub, common, fmt) -> None:
    p = sub.add_parser("store", help="the team's small key-value store",
                       description="A small typed key-value store on the remote "
                                   "(.S3/store.json), read and written at once, without a "
                                   "sync; every write is a compare-and-swap.")
    s = _sub(p, "action")
    q = s.add_parser("get", parents=[common], help="print a value")
    q.add_argument("key", metavar="KEY")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("set", parents=[common], help="set a value")
    q.add_argument("key", metavar="KEY")
    q.add_argument("value", metavar="VALUE")
    q.add_argument("--type", choices=TYPES,
                   help="the value's type (default: guessed: 17 int, 0.5 float, "
                        "2026-11-21T14:03:05Z time, else str)")
    q = s.add_parser("touch", parents=[common], help="set a key to the time now (UTC)")
    q.add_argument("key", metavar="KEY")
    q = s.add_parser("list", parents=[common], help="every key, value, who and when")
    q.add_argument("--json", action="store_true")


def _print(lines) -> None:
    for line in lines:
        print(line)


def _dump(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=typed.shown))


def dispatch(args) -> int:
    global metareport, typed  # loaded by a command, not by --help
    from ..ui import metaview as metareport
    from ..core import typed

    handler = {"files": _files, "meta": _meta, "mark": _mark, "sparse": _sparse,
               "store": _store, "info": _info}[args.command]
    return handler(args)


def _files(args) -> int:
    from ..api.meta import file_rows
    from ..ui.report import Reporter

    columns, rows = file_rows(".", args.paths, args.status, typed.filters(args.where),
                              config=args.config, out=Reporter(json=args.json))
    if args.json:
        _dump({"files": [{c: r.get(c) for c in columns} for r in rows]})
    else:
        _print(metareport.files_lines(columns, rows))
    return EXIT_OK


def _meta(args) -> int:
    from ..api import meta as metaapi

    if args.action == "get":
        values = metaapi.get_meta(args.path, config=args.config)
        _dump(values) if args.json else _print(metareport.values_lines(args.path, values))
        return EXIT_OK
    if args.action == "import" and args.mmmeta:
        from ..core.errors import UsageError

        if args.paths:
            raise UsageError("meta import --mmmeta reads the whole data folder: give no "
                             "PATH")
        read, done, warnings, stored = metaapi.import_mmmeta(".", config=args.config)
        _print(metareport.import_lines(read, done, warnings, "mmmeta record"))
        print(f"Team store: {len(stored)} key(s) set from _mmmeta/_store"
              + (f" ({', '.join(stored)})" if stored else "") + ".")
    elif args.action == "import":
        read, done, warnings = metaapi.import_meta(".", args.paths, config=args.config)
        _print(metareport.import_lines(read, done, warnings))
    else:
        changes = dict(typed.assignment(v, args.as_text) for v in args.values) \
            if args.action == "set" else {typed.check_key(k): None for k in args.keys}
        done, _ = metaapi.change_meta(args.path, changes, config=args.config)
        _print(metareport.written_lines(done))
    if done.conflicts:
        print(f"conflict: {metareport.conflict_text(done.conflicts)}")
        return EXIT_UNCONFIRMED
    return EXIT_OK


def _mark(args) -> int:
    from ..core.errors import UsageError
    from ..api.meta import mark

    flags = dict(typed.assignment(v, args.as_text) for v in args.values)
    flags.update({typed.check_key(k): None for k in args.unset})
    if not flags:
        raise UsageError("give KEY=VALUE marks to set, or --unset KEY")
    _print(metareport.values_lines(args.path, mark(args.path, config=args.config, **flags),
                                   "marks"))
    return EXIT_OK


def _sparse(args) -> int:
    from ..api import meta as metaapi

    if args.action == "list":
        holds = metaapi.holds(config=args.config)
        _dump(holds) if args.json else _print(metareport.holds_lines(holds))
        return EXIT_OK
    done, rules = metaapi.sparse_change(getattr(args, "patterns", ()),
                                        getattr(args, "where", ()), add=args.action == "add",
                                        off=args.action == "off", config=args.config)
    _print(metareport.sparse_done_lines(done, rules))
    return EXIT_OK


def _store(args) -> int:
    from ..api.meta import store

    with store(config=args.config) as st:
        if args.action == "get":
            found = st.entries().get(args.key)
            if found is None:
                from ..core.errors import UsageError

                raise UsageError(f"{args.key}: no such key in the store (`store list`)")
            value = typed.decode(found)
            _dump(value) if args.json else print(typed.shown(value))
        elif args.action == "set":
            print(_store_set(st, typed.check_key(args.key), args.value, args.type))
        elif args.action == "touch":
            print(typed.shown(st.touch(typed.check_key(args.key))))
        else:
            entries = st.entries()
            _dump({k: {**e, "value": typed.shown(typed.decode(e)) if e["type"] == "time"
                       else e["value"]} for k, e in entries.items()}) if args.json \
                else _print(metareport.store_lines(entries))
    return EXIT_OK


def _store_set(st, key: str, text: str, kind) -> str:
    """Set ``key``, keeping the type it has unless ``--type`` changes it on purpose; the
    line that says what was set."""
    had = st.entries().get(key)
    was = had["type"] if had else None
    if kind is None and was is not None:
        from ..core.errors import UsageError

        try:
            value = typed.convert(text, was)
        except UsageError:
            raise UsageError(f"{key} holds {'an' if was == 'int' else 'a'} {was} (set by "
                             f"{had.get('by') or '?'}), and {text!r} is not one: give "
                             f"{'an' if was == 'int' else 'a'} {was}, or change its type on "
                             f"purpose with --type") from None
    else:
        value = typed.convert(text, kind) if kind else typed.infer(text)
    st[key] = value
    now = typed.type_of(value)
    change = f", was {was}" if was is not None and was != now else ""
    return f"set {key} = {typed.shown(value)} ({now}{change})"


def _info(args) -> int:
    from ..api.meta import info

    summary = info(config=args.config)
    _dump(summary) if args.json else _print(metareport.info_lines(summary))
    return EXIT_OK
