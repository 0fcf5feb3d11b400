"""Persistence of one hld-store process: load at start, AOF while running, snapshots.

Start-up (before the server listens): with ``appendonly yes`` and an AOF present, the AOF
is replayed (its snapshot preamble first, then its commands); otherwise the snapshot file
is loaded if present, and with ``appendonly yes`` a fresh AOF is written from it so the
AOF is complete from then on. A torn last command is cut off with a warning naming the
file and offset; any other damage refuses to start with the file and offset.

While running, the engine's write listener feeds the AOF buffer and the shell flushes it
before replies go out (``before_reply``). Background work (BGSAVE, BGREWRITEAOF) runs in
a forked child, as Redis does: the child sees a frozen copy of the keyspace for free
(copy-on-write), writes the file and exits with ``os._exit``; the parent keeps serving
and, during a rewrite, also keeps every new write in a rewrite buffer that is appended to
the new file before it is renamed over the old one. The cron polls the child, and
starts a BGSAVE when a save point of the ``save`` setting is reached (the decision is
``hld.core.kv.savepoints.due``, given the clock and the counters kept here).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from hld.core.kv import savepoints
from hld.core.kv.client import Client
from hld.store.persistence import aof as aof_mod
from hld.store.persistence import snapshot

log = logging.getLogger("hld.store.persistence")

# Auto-rewrite (Redis' auto-aof-rewrite-percentage 100, -min-size 64mb): rewrite when the
# AOF has doubled since the last rewrite and is at least this large.
AOF_REWRITE_MIN_BYTES: Final = 64 * 1024 * 1024
AOF_REWRITE_GROWTH_RATIO: Final = 2.0
# The everysec thread's period.
FSYNC_INTERVAL_S: Final = 1.0


@dataclass(slots=True)
class _Child:
    kind: str  # "rdb" or "aof"
    pid: int
    temp_path: str
    started_s: float
    dirty: int  # the keyspace's change counter at the fork: what the file holds


def _write_file(path: str, items: Iterable[tuple[bytes, bytes, Any, int | None]],
                aux: dict[bytes, bytes]) -> None:
    with open(path, "wb") as out:
        snapshot.write(out, items, aux)
        out.flush()
        os.fsync(out.fileno())


def fork_snapshot(path: str, items: Iterable[tuple[bytes, bytes, Any, int | None]],
                  aux: dict[bytes, bytes], *, final_path: str | None = None) -> int:
    """Fork a child that writes a snapshot of ``items`` to ``path`` and exits.

    The child renames the file to ``final_path`` when given, and exits 0 on success. It
    never returns into the caller's event loop: signals are reset and ``os._exit`` ends
    it. Returns the child's pid (the caller reaps it with ``waitpid``).
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)
            _write_file(path, items, aux)
            if final_path is not None:
                os.replace(path, final_path)
            code = 0
        finally:
            os._exit(code)
    return pid


class Persistence:
    """The durability side of a ``StoreServer``. See the module docstring."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.engine = server.engine
        self.config = server.config
        self.aof: aof_mod.AppendOnlyFile | None = None
        self.child: _Child | None = None
        self.last_save_s = int(time.time())
        self.dirty_at_save = 0
        self.last_bgsave_ok = True
        self.last_bgsave_s = -1.0
        self.last_bgsave_try_s = 0.0  # when the last BGSAVE was started (retry delay)
        self.saves = 0  # successful SAVEs and BGSAVEs since start (INFO rdb_saves)
        self.last_rewrite_ok = True
        self.last_rewrite_s = -1.0
        self.aof_base_size = 0
        self.rewrite_scheduled = False
        self.loading = False
        self.final_save_dirty: int | None = None  # what SHUTDOWN's own save holds
        self._incomplete_path: str | None = None  # see enable_aof(running=True)
        # Set when the shell has no before-reply hook: flush inside the write listener.
        self.flush_per_write = False
        self._lock = threading.Lock()
        self._fsync_stop = threading.Event()
        self._fsync_thread: threading.Thread | None = None

    # -- paths ---------------------------------------------------------------------

    @property
    def aof_path(self) -> str:
        return os.path.join(str(self.config.dir), str(self.config.appendfilename))

    @property
    def rdb_path(self) -> str:
        return os.path.join(str(self.config.dir), str(self.config.dbfilename))

    # -- start-up ------------------------------------------------------------------

    def startup(self) -> None:
        os.makedirs(self.config.dir, exist_ok=True)
        self._remove_leftovers()
        db = self.engine.db
        db.set_time(time.time())
        listeners = db.listeners
        db.listeners = []  # loading replays history; it is not new writes
        self.loading = True
        try:
            if self.config.appendonly and os.path.exists(self.aof_path):
                self._load_aof()
            elif os.path.exists(self.rdb_path):
                self._load_rdb()
        finally:
            db.listeners = listeners
            self.loading = False
        self.dirty_at_save = db.dirty
        if self.config.appendonly:
            self.enable_aof()

    def _remove_leftovers(self) -> None:
        """Files a crashed process left half-written (children's temp files)."""
        directory = str(self.config.dir)
        for name in os.listdir(directory):
            if name.startswith(("temp-rewriteaof-", "temp-sync-")) or (
                    name.startswith("temp-") and name.endswith(".hld")) or (
                    name == f"{self.config.appendfilename}.incomplete"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))

    def _refuse(self, message: str) -> None:
        log.error("cannot start: %s", message)
        raise SystemExit(1)

    def _restore(self, records: list[snapshot.Record]) -> None:
        db = self.engine.db
        now_ms = db.now_ms
        for key, value, expire_at_ms in records:
            if expire_at_ms is not None and expire_at_ms <= now_ms:
                continue
            db.restore(key, value, expire_at_ms)

    def _load_rdb(self) -> None:
        path = self.rdb_path
        with open(path, "rb") as source:
            data = source.read()
        try:
            aux, records, _ = snapshot.loads(data)
        except snapshot.CorruptSnapshot as exc:
            self._refuse(f"{path}: {exc.reason} at byte offset {exc.offset}")
            return
        self._restore(records)
        self.last_save_s = int(aux.get(b"ctime", b"%d" % self.last_save_s))
        log.warning("loaded %d keys from snapshot %s", len(records), path)

    def _load_aof(self) -> None:
        path = self.aof_path
        with open(path, "rb") as source:
            data = source.read()
        engine = self.engine
        client = Client(engine, 0)
        client.authenticated = True
        client.flags.add("M")  # a replica loading its AOF must not be refused as read-only
        client.refresh()

        def apply(argv: list[bytes]) -> None:
            engine.execute(client, argv)

        try:
            result = aof_mod.load(path, data, restore=self._restore, apply=apply,
                                  allow_truncated=self.config.aof_load_truncated)
        except aof_mod.CorruptFile as exc:
            self._refuse(str(exc))
            return
        if result.truncated:
            log.warning("AOF %s truncated at byte offset %d (file had %d bytes, the last "
                        "command incomplete); loaded the valid prefix", path,
                        result.valid_bytes, result.file_bytes,
                        extra={"path": str(path), "valid_bytes": result.valid_bytes,
                               "file_bytes": result.file_bytes})
            os.truncate(path, result.valid_bytes)
        log.warning("loaded AOF %s: %d keys from its preamble, %d commands", path,
                    result.preamble_keys, result.commands)

    # -- the AOF -------------------------------------------------------------------

    def enable_aof(self, *, running: bool = False) -> None:
        """Open the AOF for appending, writing it from the keyspace if it is missing.

        While the server is ``running`` (CONFIG SET appendonly yes) the first file is made
        by a background rewrite, as Redis does: writes go to an ``.incomplete`` file and
        the rewrite buffer until the rewrite's file (preamble + buffer) takes its place.
        """
        if self.aof is not None:
            return
        if running and self.child is None:
            incomplete = f"{self.aof_path}.incomplete"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(incomplete)
            self.aof = aof_mod.AppendOnlyFile(self.aof_path, self.config.appendfsync,
                                              open_path=incomplete)
            self._incomplete_path = incomplete
            self.engine.add_write_listener(
                self._feed if self.flush_per_write else self.aof.feed)
            self._start_fsync_thread()
            self.bgrewriteaof()
            return
        if not os.path.exists(self.aof_path):
            # Start complete: a preamble of what is in memory now (a stall proportional
            # to the dataset, once, when AOF is first switched on).
            temp = f"{self.aof_path}.temp-{os.getpid()}"
            _write_file(temp, self.engine.db.items(), self._aux())
            os.replace(temp, self.aof_path)
            aof_mod.fsync_dir(os.path.dirname(os.path.abspath(self.aof_path)))
        self.aof = aof_mod.AppendOnlyFile(self.aof_path, self.config.appendfsync)
        self.aof_base_size = self.aof.size
        self.engine.add_write_listener(self._feed if self.flush_per_write else self.aof.feed)
        self._start_fsync_thread()

    def _feed(self, argv: list[bytes]) -> None:
        aof = self.aof
        if aof is not None:
            aof.feed(argv)
            if self.flush_per_write:
                self.flush()

    def disable_aof(self) -> None:
        aof = self.aof
        if aof is None:
            return
        self.engine.remove_write_listener(self._feed)
        self.engine.remove_write_listener(aof.feed)
        self.aof = None
        with self._lock:
            aof.close()

    def set_fsync_policy(self, policy: str) -> None:
        if self.aof is not None:
            self.flush()
            self.aof.fsync_policy = policy

    def flush(self) -> None:
        """Before replies go out: the AOF buffer to the file (and fsync under always)."""
        aof = self.aof
        if aof is None or not (aof.pending or aof.buffer):
            return
        try:
            aof.flush()
        except OSError:
            log.exception("writing the AOF %s failed", aof.path)

    def _start_fsync_thread(self) -> None:
        if self._fsync_thread is not None:
            return
        self._fsync_stop.clear()
        thread = threading.Thread(target=self._fsync_loop, name="aof-fsync", daemon=True)
        self._fsync_thread = thread
        thread.start()

    def _fsync_loop(self) -> None:
        while not self._fsync_stop.wait(FSYNC_INTERVAL_S):
            aof = self.aof
            if aof is None or aof.fsync_policy != "everysec":
                continue
            with self._lock:
                try:
                    aof.fsync()
                except OSError as exc:  # the fd was swapped by a rewrite: next round
                    log.debug("background fsync skipped: %s", exc)

    # -- snapshots -----------------------------------------------------------------

    def _aux(self) -> dict[bytes, bytes]:
        aux = {b"ctime": b"%d" % int(time.time()), b"hld-version": b"1"}
        replication = getattr(self.server, "replication", None)
        if replication is not None:
            aux.update(replication.snapshot_aux())
        return aux

    def save(self, *, counted: bool = True) -> None:
        """SAVE: write the snapshot now, in this process (blocks the server).

        ``counted``: whether INFO rdb_saves counts it (redis-server 7.0 does not count
        the save FLUSHALL makes)."""
        temp = f"{self.rdb_path}.temp-{os.getpid()}"
        try:
            _write_file(temp, self.engine.db.items(), self._aux())
            os.replace(temp, self.rdb_path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        aof_mod.fsync_dir(os.path.dirname(os.path.abspath(self.rdb_path)))
        self.last_save_s = int(time.time())
        self.dirty_at_save = self.engine.db.dirty
        self.last_bgsave_ok = True
        if counted:
            self.saves += 1

    def after_flushall(self) -> None:
        """FLUSHALL, as redis-server 7.0: a running background save is abandoned (its
        file would bring the flushed keys back), and with save points configured the
        empty dataset is saved at once, in this process, so it is what a restart finds
        and rdb_changes_since_last_save is 0. Without save points the last snapshot
        stays as it was."""
        self.kill_rdb_child()
        if not self.config.save:
            return
        try:
            self.save(counted=False)
        except OSError:
            # Redis answers FLUSHALL with OK all the same; the save points retry later.
            log.exception("saving the snapshot after FLUSHALL failed")

    def kill_rdb_child(self) -> None:
        """Stop a running background save and forget it (not counted as a failure)."""
        child = self.child
        if child is None or child.kind != "rdb":
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)  # SIGKILL: the child is gone at once
        self.child = None
        with contextlib.suppress(OSError):
            os.unlink(child.temp_path)
        log.warning("background save by pid %d killed", child.pid)

    def bgsave(self) -> bool:
        """BGSAVE: fork a child that writes the snapshot; False if a child is busy or the
        fork failed."""
        if self.child is not None:
            return False
        temp = os.path.join(self.config.dir, f"temp-{os.getpid()}-{time.monotonic_ns()}.hld")
        self.last_bgsave_try_s = time.time()
        try:
            self._fork("rdb", temp, final_path=self.rdb_path)
        except OSError:
            # Counted as a failed save: save points wait the retry delay before the next.
            self.last_bgsave_ok = False
            log.exception("cannot start a background save")
            return False
        return True

    def bgrewriteaof(self) -> bool:
        """BGREWRITEAOF: fork a child writing a compact AOF; new writes are buffered."""
        if self.child is not None:
            if self.child.kind == "rdb":
                self.rewrite_scheduled = True
                return True
            return False
        self.flush()
        temp = os.path.join(self.config.dir,
                            f"temp-rewriteaof-{os.getpid()}-{time.monotonic_ns()}.aof")
        self._fork("aof", temp, final_path=None)
        if self.aof is not None:
            self.aof.rewrite_buffer = bytearray()
        return True

    def _fork(self, kind: str, temp: str, *, final_path: str | None) -> None:
        pid = fork_snapshot(temp, self.engine.db.items(), self._aux(), final_path=final_path)
        self.child = _Child(kind, pid, temp, time.monotonic(), self.engine.db.dirty)
        log.warning("background %s started by pid %d", "save" if kind == "rdb" else
                    "AOF rewrite", pid)

    def poll_child(self) -> None:
        """Reap a finished child and adopt its file (cron)."""
        child = self.child
        if child is None:
            if self.rewrite_scheduled:
                self.rewrite_scheduled = False
                self.bgrewriteaof()
            return
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = child.pid, 1 << 8
        if pid == 0:
            return
        self.child = None
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        elapsed_s = time.monotonic() - child.started_s
        if child.kind == "rdb":
            self.last_bgsave_ok = ok
            self.last_bgsave_s = elapsed_s
            if ok:
                self.last_save_s = int(time.time())
                # Writes made while the child ran are not in its file: still unsaved.
                self.dirty_at_save = child.dirty
                self.saves += 1
                aof_mod.fsync_dir(os.path.dirname(os.path.abspath(self.rdb_path)))
        else:
            self.last_rewrite_ok = ok
            self.last_rewrite_s = elapsed_s
            if ok:
                self._adopt_rewrite(child.temp_path)
            elif self.aof is not None:
                self.aof.rewrite_buffer = None
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(child.temp_path)
            log.error("background %s failed (status %d)", child.kind, status)
        else:
            log.warning("background %s done in %.2fs", child.kind, elapsed_s)

    def _adopt_rewrite(self, temp: str) -> None:
        aof = self.aof
        if aof is None:
            # AOF is off: the rewrite still produces a complete file, as Redis does.
            os.replace(temp, self.aof_path)
            return
        self.flush()
        aof.replace_with(temp)
        self.aof_base_size = aof.size
        if self._incomplete_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._incomplete_path)
            self._incomplete_path = None

    def cron(self) -> None:
        # Writes nobody waits a reply for (a replica applying its primary's stream, keys
        # expired by the cron) reach the file here at the latest.
        self.flush()
        self.poll_child()
        aof = self.aof
        if (aof is not None and self.child is None and aof.size >= AOF_REWRITE_MIN_BYTES
                and aof.size >= self.aof_base_size * AOF_REWRITE_GROWTH_RATIO):
            self.bgrewriteaof()
        if self.child is None and self.config.save:
            self.check_save_points(time.time())

    def check_save_points(self, now_s: float) -> bool:
        """Start a BGSAVE if a save point is reached at ``now_s``; True if one started."""
        changes = self.engine.db.dirty - self.dirty_at_save
        point = savepoints.due(self.config.save, changes=changes, now_s=now_s,
                               last_save_s=self.last_save_s,
                               last_try_s=self.last_bgsave_try_s,
                               last_ok=self.last_bgsave_ok)
        if point is None or self.child is not None:
            return False
        log.warning("%d changes in %d seconds. Saving...", point.changes, point.seconds,
                    extra={"changes": changes, "save_point": savepoints.render((point,))})
        return self.bgsave() and self.child is not None

    def wait_child(self, timeout_s: float) -> None:
        """Wait for a running child (shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.child is not None and time.monotonic() < deadline:
            self.poll_child()
            time.sleep(0.01)

    def _final_save_wanted(self, save: bool | None) -> bool:
        """SHUTDOWN SAVE (True), NOSAVE (False), or plain (None): save points decide."""
        return bool(self.config.save) if save is None else save

    def prepare_shutdown(self, *, save: bool | None, force: bool) -> bool:
        """SHUTDOWN, before the reply: the AOF made durable and the final snapshot saved
        now, so a failure can still be answered; False (keep running) when the save
        failed and ``force`` is not given. ``shutdown`` saves again only if writes
        arrived in between."""
        self.kill_rdb_child()  # it could rename an older dataset over the final save
        self.flush()
        if self.aof is not None:
            with self._lock:
                try:
                    self.aof.fsync()
                except OSError:
                    log.exception("fsync of the AOF %s at shutdown failed", self.aof.path)
        if not self._final_save_wanted(save):
            return True
        log.warning("saving the final snapshot before exiting")
        try:
            self.save()
            self.final_save_dirty = self.engine.db.dirty
        except OSError:
            if not force:
                log.exception("saving the final snapshot failed: not exiting "
                              "(SHUTDOWN FORCE exits anyway)")
                return False
            log.exception("saving the final snapshot failed: exiting anyway (FORCE)")
        return True

    def shutdown(self, *, save: bool | None) -> None:
        """The last step of any exit (SHUTDOWN, SIGTERM): a background save killed, an
        AOF rewrite waited for (Redis kills it; waiting keeps a first AOF, made while
        running, from being lost), the AOF flushed, fsynced and closed, and the final
        snapshot saved when ``save`` (or, if None, the save points) asks for it and
        SHUTDOWN's own save does not already hold the dataset."""
        self.kill_rdb_child()
        self.wait_child(30.0)
        self._fsync_stop.set()
        if self.aof is not None:
            with self._lock:
                self.aof.close()
            self.engine.remove_write_listener(self._feed)
            self.engine.remove_write_listener(self.aof.feed)
            self.aof = None
        if self._final_save_wanted(save) and self.engine.db.dirty != self.final_save_dirty:
            try:
                self.save()
            except OSError:
                log.exception("saving the snapshot at shutdown failed")

    # -- INFO ----------------------------------------------------------------------

    def info(self) -> list[tuple[str, Any]]:
        aof = self.aof
        child = self.child
        return [
            ("loading", int(self.loading)),
            ("async_loading", 0),
            ("rdb_changes_since_last_save", self.engine.db.dirty - self.dirty_at_save),
            ("rdb_bgsave_in_progress", int(child is not None and child.kind == "rdb")),
            ("rdb_last_save_time", self.last_save_s),
            ("rdb_last_bgsave_status", "ok" if self.last_bgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", int(self.last_bgsave_s)),
            ("rdb_current_bgsave_time_sec",
             int(time.monotonic() - child.started_s) if child is not None
             and child.kind == "rdb" else -1),
            ("rdb_saves", self.saves),
            ("aof_enabled", int(aof is not None)),
            ("aof_rewrite_in_progress", int(child is not None and child.kind == "aof")),
            ("aof_rewrite_scheduled", int(self.rewrite_scheduled)),
            ("aof_last_rewrite_time_sec", int(self.last_rewrite_s)),
            ("aof_last_bgrewrite_status", "ok" if self.last_rewrite_ok else "err"),
            ("aof_last_write_status", "ok" if aof is None or aof.last_write_ok else "err"),
            ("aof_current_size", aof.size if aof is not None else 0),
            ("aof_base_size", self.aof_base_size),
            ("aof_buffer_length", len(aof.buffer) + len(aof.pending) if aof is not None
             else 0),
            ("aof_fsync_policy", self.config.appendfsync),
        ]
