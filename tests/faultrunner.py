"""Run the real CLI with faults injected from outside the product (tests only).

    python tests/faultrunner.py [CLI args...]

Environment:
  FAULT_CRASH_AT=N         SIGKILL this process at the N-th counted event: a call into the
                           s3sync_mirror package, or a write, rename, link, unlink, fsync
                           or truncate (from any thread). 0 = only count.
  FAULT_COUNT_FILE=path    write the number of events counted (at exit), and the place
                           of each event, one per line, to path + ".places"
  FAULT_TRACE_FILE=path    write where the kill happened (function and file)
  FAULT_CRASH_IN=file:fn   SIGKILL this process when a function of the package is first
                           called, named as ``replica.py:copy_to`` (one place, no timing);
                           ``file:fn:return``: when it first returns
  FAULT_EACCES=text        opening a file whose path contains ``text`` fails: EACCES
  FAULT_ENOSPC=N           a download in flight (.S3/tmp/) that grows past N bytes fails:
                           ENOSPC, as on a disk with N bytes free
  FAULT_CHANGE=text        a file whose path contains ``text`` is edited just before it
                           is uploaded (after the scan hashed it)
  FAULT_RSS_FILE=path      write this process's peak resident memory, in bytes, at exit
"""
from __future__ import annotations

import builtins
import errno
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import s3sync_mirror  # noqa: E402

PKG = os.path.dirname(s3sync_mirror.__file__)
WATCHED = {"write", "pwrite", "replace", "rename", "link", "unlink", "fsync", "ftruncate",
           "truncate", "write_bytes", "put_object", "upload_part",
           "complete_multipart_upload", "copy_object", "delete_object"}


def install_crash(crash_at: int, count_file: str, trace_file: str) -> None:
    lock = threading.Lock()
    state = {"n": 0}
    places: list = []

    def hook(frame, event, arg):
        if event == "call":
            if not frame.f_code.co_filename.startswith(PKG):
                return
            where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"
        elif event == "c_call":
            name = getattr(arg, "__name__", "")
            if name not in WATCHED:
                return
            caller = frame.f_code
            where = f"{name} in {os.path.basename(caller.co_filename)}:{caller.co_name}"
        else:
            return
        with lock:
            state["n"] += 1
            n = state["n"]
            if crash_at == 0:
                places.append(where)
        if n == crash_at:
            if trace_file:
                with open(trace_file, "w") as f:
                    f.write(where)
            os.kill(os.getpid(), signal.SIGKILL)

    threading.setprofile(hook)
    sys.setprofile(hook)
    if count_file:
        import atexit

        def report():
            sys.setprofile(None)
            threading.setprofile(None)
            with open(count_file, "w") as f:
                f.write(str(state["n"]))
            with open(count_file + ".places", "w") as f:
                f.write("\n".join(places))

        atexit.register(report)


def install_crash_in(place: str) -> None:
    """SIGKILL at the first call of ``file.py:function`` in the package (any thread), or
    at its first return (``file.py:function:return``)."""
    filename, function, *when = place.split(":")
    wanted = when[0] if when else "call"

    def hook(frame, event, arg):
        code = frame.f_code
        if event == wanted and code.co_name == function and \
                code.co_filename.startswith(PKG) and \
                os.path.basename(code.co_filename) == filename:
            os.kill(os.getpid(), signal.SIGKILL)

    threading.setprofile(hook)
    sys.setprofile(hook)


class _FailingWrites:
    """A file object whose writes fail with ENOSPC once it would outgrow ``room``."""

    def __init__(self, fh, room: int):
        self._fh = fh
        self._room = room
        self._written = 0

    def write(self, data):
        if self._written + len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._fh.name)
        self._written += len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def install_io_faults(eacces: str, enospc: int) -> None:
    real_open = builtins.open
    real_os_open = os.open
    real_pwrite = os.pwrite
    tmp_marker = os.sep + os.path.join(".S3", "tmp") + os.sep

    def fake_open(file, mode="r", *a, **kw):
        name = os.fspath(file) if not isinstance(file, int) else ""
        if eacces and eacces in str(name):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        fh = real_open(file, mode, *a, **kw)
        if enospc and tmp_marker in str(name) and "w" in mode and str(name).endswith(".part"):
            return _FailingWrites(fh, enospc)
        return fh

    def fake_os_open(path, flags, *a, **kw):
        if eacces and eacces in str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_os_open(path, flags, *a, **kw)

    def fake_pwrite(fd, data, offset):
        if enospc and offset + len(data) > enospc:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    builtins.open = fake_open
    os.open = fake_os_open
    os.pwrite = fake_pwrite


def install_change_during_upload(text: str) -> None:
    from s3sync_mirror.platforms.local.connection import LocalConnection
    from s3sync_mirror.platforms.s3.connection import S3Connection

    for cls in (LocalConnection, S3Connection):
        original = cls.upload

        def upload(self, key, source, *a, __orig=original, **kw):
            if text in str(source):
                with open(source, "ab") as f:
                    f.write(b" (edited while uploading)")
            return __orig(self, key, source, *a, **kw)

        cls.upload = upload

    original_many = S3Connection.upload_many  # a batch of small files (obstore)

    def upload_many(self, items, *a, **kw):
        for _key, source, *_rest in items:
            if text in str(source):
                with open(source, "ab") as f:
                    f.write(b" (edited while uploading)")
        return original_many(self, items, *a, **kw)

    S3Connection.upload_many = upload_many


def main() -> int:
    env = os.environ
    if env.get("FAULT_EACCES") or env.get("FAULT_ENOSPC"):
        install_io_faults(env.get("FAULT_EACCES", ""), int(env.get("FAULT_ENOSPC") or 0))
    if env.get("FAULT_RSS_FILE"):
        import atexit
        import resource

        def peak():
            # VmHWM: this process image's peak. (ru_maxrss would also count the parent's
            # pages before exec: Linux keeps the high-water mark across execve.)
            value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            try:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            value = int(line.split()[1]) * 1024
            except OSError:
                pass
            with open(env["FAULT_RSS_FILE"], "w") as f:
                f.write(str(value))

        atexit.register(peak)
    if env.get("FAULT_CHANGE"):
        install_change_during_upload(env["FAULT_CHANGE"])
    if "FAULT_CRASH_AT" in env:
        install_crash(int(env["FAULT_CRASH_AT"]), env.get("FAULT_COUNT_FILE", ""),
                      env.get("FAULT_TRACE_FILE", ""))
    if env.get("FAULT_CRASH_IN"):
        install_crash_in(env["FAULT_CRASH_IN"])
    from s3sync_mirror.cli.main import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
