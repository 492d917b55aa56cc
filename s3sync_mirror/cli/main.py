"""The command line: argparse wiring only. ``python -m s3sync_mirror`` and the console
script ``s3sync-mirror`` both call ``main``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.version import VERSION as __version__
from ..core.errors import EXIT_OK, EXIT_UNCONFIRMED, S3SyncMirrorError, UsageError

from .history import COMMANDS as HISTORY_COMMANDS
from .history import VALUED as HISTORY_VALUED
from .diff import COMMANDS as DIFF_COMMANDS
from .diff import VALUED as DIFF_VALUED
from .meta import COMMANDS as META_COMMANDS
from .pins import COMMANDS as PIN_COMMANDS
from .meta import VALUED as META_VALUED
from .artifacts import COMMANDS as ARTIFACT_COMMANDS
from .artifacts import VALUED as ARTIFACT_VALUED

COMMANDS = ("sync", "status", *HISTORY_COMMANDS, *DIFF_COMMANDS, *PIN_COMMANDS, *ARTIFACT_COMMANDS,
            *META_COMMANDS, "reset", "init", "mirror")

DESCRIPTION = """\
Share a data folder with your team through an S3 prefix or a shared folder, the way you
share code through git. Each run works out, three-way, what changed here and on the remote
since YOUR last sync, shows the plan, asks you to confirm, carries it out in parallel,
verifies every byte (SHA-256) and records the new state in <data_dir>/.S3/.

Nothing is lost: remote files that a sync overwrites or deletes are archived in the
remote's .S3/archive/, local ones go to <data_dir>/.S3/trash/; `log` lists every version
and `restore` brings it back. A file changed on both sides is a conflict, never a silent
overwrite."""

EPILOG = """\
examples:
  s3sync-mirror                     plan, confirm, sync (same as `sync`)
  s3sync-mirror status              show the plan only
  s3sync-mirror --yes               apply every non-conflicting action, no prompts
  s3sync-mirror --conflict both     resolve every conflict by keeping both versions
  s3sync-mirror sync Data/raw       limit the run to one folder
  s3sync-mirror --json --dry-run    the plan as one JSON object
  s3sync-mirror log raw/a.csv       every version of a file: who, when, where kept
  s3sync-mirror restore raw/a.csv --version 2   bring back the version before the newest
  s3sync-mirror diff raw/a.csv --key id   what changed inside a table: rows and cells
  s3sync-mirror files --where year=2024   the files whose shared metadata says so
  s3sync-mirror sparse set raw/     hold only raw/ in this clone
  s3sync-mirror init                write a commented s3sync_mirror.yml
  s3sync-mirror mirror etl.jobs:lift  where an artifact of that code object lives
  s3sync-mirror artifact put m.pkl   store a result by its SHA-256, with its provenance

exit codes:
  0  in sync / everything done
  1  a failure (network, permission, a partial run: each failed file is named)
  2  bad usage or configuration
  3  actions remain unconfirmed or conflicts unresolved (also: no terminal and no --yes)
  130  interrupted (Ctrl-C): what completed is recorded; run again to finish

configuration: s3sync_mirror.yml, looked up from the current folder upwards
(or --config PATH, or $S3SYNC_MIRROR_CONFIG). Credentials come from boto3's chain:
environment, AWS profile, SSO, instance role; never from the config file."""


def _sync_options(p: argparse.ArgumentParser, status: bool = False) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="limit the run to these files or folders of the data folder "
                        "(or module:qualname objects of a mirror)")
    if not status:  # what only a run that changes things needs
        _change_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the actions and a summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="list every action with its outcome (-vv: and debug logging)")


def _change_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true",
                   help="no prompts: apply every non-conflicting action")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="show what would be done, change nothing")
    p.add_argument("--conflict", choices=("ask", "skip", "local", "remote", "both"),
                   help="how to resolve conflicts (default: ask in a terminal, else skip)")
    p.add_argument("--max-delete", type=float, default=50.0, metavar="PCT",
                   help="stop if the sync would delete more than PCT%% of the files of "
                        "either side (default: 50)")
    p.add_argument("--force", action="store_true", help="go past the --max-delete guard")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="parallel transfers (default: 16)")


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size gives it ($COLUMNS, else the
    terminal of stdout, else 80), without importing shutil (with bz2 and lzma: 3.6 ms of
    every command's start-up, measured), since parsing makes a formatter for each option."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter for descriptions as written, told the width (``_columns``)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with ``only`` a command word: that command's parser
    alone (what parsing it needs; the rest of the tree costs a no-change sync ~15 ms)."""
    common = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)
    common.add_argument("--config", metavar="PATH",
                        help="the config file (default: s3sync_mirror.yml found upwards)")
    common.add_argument("--user", metavar="NAME",
                        help="who you are, recorded as Edited By (default: "
                             "$S3SYNC_MIRROR_USER, else `git config s3sync-mirror.user`, "
                             "else the config's user:, git's user.name, the login name)")
    parser = argparse.ArgumentParser(
        prog="s3sync-mirror", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = _Formatter
    for names, add in _command_tables():
        if only is None or only in names:
            add(sub, common, fmt)
    parser.set_defaults(_commands=sub.choices)
    return parser


def _command_tables() -> tuple:
    """(the command words, the function that adds their parsers), in --help's order."""
    from . import artifacts, diff, history, meta, pins

    return ((("sync", "status"), _sync_commands), (HISTORY_COMMANDS, history.add_commands),
            (DIFF_COMMANDS, diff.add_commands), (META_COMMANDS, meta.add_commands),
            (PIN_COMMANDS, pins.add_commands), (ARTIFACT_COMMANDS, artifacts.add_commands),
            (("reset",), _reset_command), (("init",), _init_command),
            (("mirror",), _mirror_command))


def _sync_commands(sub, common, fmt) -> None:
    p = sub.add_parser("sync", parents=[common], formatter_class=fmt,
                       help="plan, confirm, carry out, record (the default)",
                       description="Plan, confirm, carry out and record a sync.",
                       epilog=EPILOG)
    _sync_options(p)
    p = sub.add_parser("status", parents=[common], formatter_class=fmt,
                       help="show the plan only; change nothing",
                       description="Show what a sync would do. Changes nothing.")
    _sync_options(p, status=True)


def _reset_command(sub, common, fmt=None) -> None:
    p = sub.add_parser("reset", parents=[common], help="remove this clone's sync state (asks "
                                                       "first)",
                       description="Remove this clone's sync state (Data/.S3/ state files): "
                                   "the next sync starts over as a first sync, deleting "
                                   "nothing. With --remote, also the remote's state file, "
                                   "which the next sync rebuilds from the remote's own files. "
                                   "Never a data file, the local trash, the remote's deletion "
                                   "log or its archive. Asks first.")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p.add_argument("--remote", action="store_true",
                   help="also remove the remote's state file (for every member: use when it "
                        "is damaged)")


def _init_command(sub, common=None, fmt=None) -> None:
    p = sub.add_parser("init", help="write a commented s3sync_mirror.yml",
                       description="Write a commented s3sync_mirror.yml in the current folder "
                                   "and add the data folder to .gitignore.")
    from ..platforms.registry import sync_providers

    p.add_argument("--provider", choices=sync_providers(), default="local")
    p.add_argument("--tenant", help="bucket name (s3, gcs), container name (blob) or remote "
                                    "folder (local)")
    p.add_argument("--namespace", default="MIRROR", help="key prefix (default: MIRROR)")
    p.add_argument("--data-dir", default="Data", help="the shared folder (default: Data)")
    p.add_argument("--endpoint-url", help="an S3-compatible server, or an emulator")
    p.add_argument("--force", action="store_true", help="overwrite an existing config")


def _mirror_command(sub, common, fmt=None) -> None:
    p = sub.add_parser("mirror", parents=[common],
                       help="print where a code object's artifacts live",
                       description="Print the mirrored relative, local and remote paths of "
                                   "a code object, given as module:qualname.")
    p.add_argument("object", metavar="OBJ", help="module:qualname, e.g. etl.tasks:LiftData")
    p.add_argument("--mirror", dest="mirror_name", metavar="NAME",
                   help="which mirror of the config (default: the only one, or the one whose "
                        "root holds the module)")
    p.add_argument("--no-id", action="store_true", help="paths without the run id")
    p.add_argument("--run-id", help="use this run id instead of a new one")


def _argv_with_default(argv: list[str]) -> list[str]:
    """No command means ``sync``. Options may come before the command word
    (``--json status``): the command is moved to the front. A first word that is no
    command but looks like a misspelt one is an error, never a path."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help", "--version"):
            return argv
        if a == "--":
            break
        if a.startswith("-"):
            i += 2 if a in _VALUED else 1
            continue
        if a in COMMANDS:
            return [a, *argv[:i], *argv[i + 1:]]
        _refuse_misspelt(a)
        break
    return ["sync", *argv]


def _refuse_misspelt(word: str) -> None:
    import difflib

    if any(c in word for c in "/.:\\") or Path(word).exists():
        return  # a path
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    if close:
        raise UsageError(f"unknown command {word!r}: did you mean `{close[0]}`? (a data "
                         f"path is written as it is under the data folder, e.g. raw/a.csv; "
                         f"see --help)")


def _unknown_arguments(args, extras: list[str]) -> UsageError:
    """What argparse calls "unrecognized arguments", said with the reason and the fix: the
    closest option of the command, or the commands the option belongs to."""
    import difflib

    commands, cmd = build_parser().get_default("_commands"), args.command
    parser = commands[cmd]
    see = f"see `s3sync-mirror {cmd} --help`"
    word = next((x for x in extras if x.startswith("-")), extras[0])
    if not word.startswith("-"):
        return UsageError(f"`{cmd}` takes no argument {word!r}; {see}")
    name = word.split("=", 1)[0]
    owners = [c for c, p in commands.items() if name in p._option_string_actions]
    if owners:
        which = ", ".join(f"`{c}`" for c in owners[:4])
        return UsageError(f"{name} is not an option of `{cmd}` (it belongs to {which}); "
                          f"drop it, or run the command that takes it; {see}")
    close = difflib.get_close_matches(name, list(parser._option_string_actions), n=1,
                                      cutoff=0.75)
    if close:
        return UsageError(f"unknown option {name} for `{cmd}`: did you mean `{close[0]}`? "
                          f"({see})")
    return UsageError(f"unknown option {name} for `{cmd}`; {see}")


_VALUED = {"--config", "--user", "--conflict", "--max-delete", "-j", "--jobs", *HISTORY_VALUED,
           *DIFF_VALUED, *META_VALUED, *ARTIFACT_VALUED}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _argv_with_default(argv)
        parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
        args, extras = parser.parse_known_args(argv)
        if extras:
            raise _unknown_arguments(args, extras)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    as_json = getattr(args, "json", False)
    if getattr(args, "user", None):  # every layer reads who "I" am from the environment
        import os

        from ..config import USER_ENV

        os.environ[USER_ENV] = args.user
    from ..core import logs

    logs.configure(getattr(args, "verbose", 0), getattr(args, "quiet", False) or as_json)
    try:
        return _dispatch(args)
    except S3SyncMirrorError as exc:
        if as_json:
            import json

            result = getattr(exc, "result", None)
            payload = result.to_dict() if result is not None else {"actions": [],
                                                                    "summary": {}}
            payload["summary"]["exit_code"] = exc.exit_code
            payload["error"] = str(exc)
            print(json.dumps(payload, ensure_ascii=False))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        from ..ui.prompts import Aborted

        if isinstance(exc, Aborted):  # at a prompt: before anything was carried out
            print("\ninterrupted at the prompt: nothing was carried out; run again to "
                  "decide.", file=sys.stderr)
        else:
            print("\ninterrupted: what completed is recorded; run again to finish.",
                  file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one clear line, the traceback only on request
        if getattr(args, "verbose", 0) > 1:
            raise
        print(f"internal error: {type(exc).__name__}: {exc}. Nothing more was done; "
              f"run again with -vv for the details, and please report it.", file=sys.stderr)
        return 1


def _dispatch(args) -> int:
    from ..api import run as api

    if args.command == "init":
        from .init import init_repo

        for line in init_repo(Path.cwd(), provider=args.provider, tenant=args.tenant,
                              namespace=args.namespace, data_dir=args.data_dir,
                              endpoint_url=args.endpoint_url, force=args.force):
            print(line)
        return EXIT_OK
    if args.command == "reset":
        return EXIT_OK if api.reset_confirm(".", remote=args.remote, yes=args.yes,
                                            config=args.config) else EXIT_UNCONFIRMED
    if args.command in HISTORY_COMMANDS:
        from .history import dispatch

        return dispatch(args)
    if args.command in PIN_COMMANDS:
        from .pins import dispatch as pin_dispatch

        return pin_dispatch(args)
    if args.command in ARTIFACT_COMMANDS:
        from .artifacts import dispatch as artifact_dispatch

        return artifact_dispatch(args)
    if args.command in DIFF_COMMANDS:
        from .diff import dispatch as diff_dispatch

        return diff_dispatch(args)
    if args.command in META_COMMANDS:
        from .meta import dispatch as meta_dispatch

        return meta_dispatch(args)
    if args.command == "mirror":
        from ..mirror import describe_object

        for line in describe_object(args.object, config=args.config, mirror=args.mirror_name,
                                    with_id=not args.no_id, run_id=args.run_id):
            print(line)
        return EXIT_OK
    from ..config import load_settings
    from ..options import Options
    from ..sync import run_sync

    settings = load_settings(".", args.config)
    changing = {k: getattr(args, k) for k in ("yes", "dry_run", "conflict", "max_delete",
                                               "force", "jobs") if hasattr(args, k)}
    opts = Options(json=args.json, quiet=args.quiet, verbose=args.verbose,
                   status=args.command == "status", **changing)
    opts.paths, opts.must_match = api.split_scope(settings, args.paths, Path.cwd())
    if _ENDS_PROCESS:
        # The process ends with this command (run()): the cyclic collector, paused during
        # the run (sync._no_cycle_collector), stays off, else its first pass once back on
        # walks everything the run still holds (a fresh clone of 2,000 files: 9.5 ms).
        import gc

        gc.disable()
    result = run_sync(settings, opts)
    if args.json:
        import json

        print(json.dumps(result.to_dict(), indent=None, ensure_ascii=False))
    return result.exit_code



_ENDS_PROCESS = False  # set by run(): the process ends when the command returns


def run() -> None:
    """The console script and ``python -m s3sync_mirror``: :func:`main`, then the end of
    the process. Everything a command does is done when it returns, and the interpreter's
    own shutdown runs as usual up to its last step: threads that are not daemons are
    waited for (idle worker pools let go), the output is flushed, logging is closed.
    Only the teardown of modules and the collection of what is left is skipped, where
    the native libraries' destructors (the S3 engines' runtimes, pyarrow) run after
    their threads: a rare SIGABRT at exit, with the command's output complete, was seen
    there once in CI (`diff --json` on S3)."""
    import os
    import threading

    from ..core import logs

    global _ENDS_PROCESS
    _ENDS_PROCESS = True
    code = main()
    try:
        threading._shutdown()  # what the interpreter does first when it ends
    except Exception:  # noqa: BLE001 - a private hook: without it, the usual exit
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head): nothing more to say
            pass
    logs.shutdown()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
