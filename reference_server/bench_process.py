"""Child processes of the benchmark: the server under test, the bare floor server, the subscriber crowd.

Each is started with :func:`spawn` as a context manager that always ends it (SIGTERM, then SIGKILL after a
grace period), whether the benchmark finishes, fails or is interrupted with Ctrl-C. Output goes to files in
the run's work directory rather than to pipes nobody reads, because a chatty child blocked on a full pipe
would look exactly like a slow server. Every wait here has a deadline.

:func:`settled_rss` reads a process's resident memory once it has stopped moving, which is what a
per-connection memory figure needs: allocator arenas and lazily touched pages keep growing for a moment
after the last connection is accepted.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["Child", "ChildError", "LineReader", "settled_rss", "spawn", "wait_for_listening"]

_LISTENING = re.compile(r"listening on (http://\S+)")


class ChildError(RuntimeError):
    """A child process failed to start, died, or did not answer in time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Child:
    """A running child process and where its output goes."""

    name: str
    """what it is, for messages ("server", "bare server", "SSE clients")."""
    proc: subprocess.Popen[bytes]
    """the process itself."""
    stdout_path: Path | None
    """file receiving its stdout, or None when stdout is a pipe read by the caller."""
    stderr_path: Path
    """file receiving its stderr."""

    def stderr_tail(self, lines: int = 8) -> str:
        """The last lines the child wrote to stderr, for error messages."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def ensure_alive(self) -> None:
        """Raise :class:`ChildError` with the child's last words if it has exited."""
        code = self.proc.poll()
        if code is not None:
            raise ChildError(f"{self.name} exited with status {code}:\n{self.stderr_tail()}")


_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> None:
    """Runs in the child between fork and exec.

    A session of its own keeps the terminal's Ctrl-C away from the child, so the benchmark alone sees it
    and stops its children in order (a server that died on the same keystroke would look like a crash).
    The parent-death signal covers the opposite case: if the benchmark is killed outright, the child gets
    SIGTERM instead of serving forever.
    """
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: no parent-death signal, the session still helps
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5.0)


@contextmanager
def spawn(
    name: str, argv: Sequence[str], workdir: Path, *, pipe_io: bool = False, grace_s: float = 10.0
) -> Iterator[Child]:
    """Start ``argv`` as a child; on exit from the block, stop it (SIGTERM, then SIGKILL).

    With ``pipe_io`` the child's stdin and stdout are pipes (the subscriber crowd's line protocol);
    otherwise stdout goes to a file.
    """
    slug = re.sub(r"\W+", "-", name).strip("-")
    stderr_path = workdir / f"{slug}.stderr"
    stdout_path = None if pipe_io else workdir / f"{slug}.stdout"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out_file = None if stdout_path is None else open(stdout_path, "wb")
    try:
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if pipe_io else subprocess.DEVNULL,
                stdout=subprocess.PIPE if out_file is None else out_file,
                stderr=err,
                env=env,
                bufsize=0,
                preexec_fn=functools.partial(_child_setup, os.getpid()),
            )
    finally:
        if out_file is not None:
            out_file.close()  # the child holds its own copy of the descriptor
    child = Child(name=name, proc=proc, stdout_path=stdout_path, stderr_path=stderr_path)
    try:
        yield child
    finally:
        _stop(proc, grace_s)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def wait_for_listening(child: Child, timeout_s: float) -> str:
    """The base URL the child prints in its ``listening on http://HOST:PORT`` line."""
    assert child.stdout_path is not None, "wait_for_listening needs a child whose stdout is a file"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = _LISTENING.search(child.stdout_path.read_text(errors="replace"))
        if match:
            return match.group(1)
        child.ensure_alive()
        time.sleep(0.05)
    raise ChildError(f"{child.name} did not report 'listening on' within {timeout_s:.0f} s")


class LineReader:
    """Reads a child's stdout pipe line by line, never blocking past a deadline."""

    def __init__(self, child: Child) -> None:
        assert child.proc.stdout is not None, "LineReader needs a child started with pipe_io=True"
        self._child = child
        self._fd = child.proc.stdout.fileno()
        self._buffer = b""
        os.set_blocking(self._fd, False)

    def readline(self, deadline: float) -> str | None:
        """The next line, or None if ``deadline`` (time.monotonic) passes first or the child has exited."""
        while True:
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                return line.decode(errors="replace")
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                return None  # end of file: the child closed stdout (it exited)
            self._buffer += chunk


def settled_rss(pid: int, *, pause_s: float, max_wait_s: float, tolerance: float = 0.005) -> int:
    """Resident set size of ``pid`` in bytes, once it holds still.

    Waits ``pause_s`` first (pending frees, the allocator giving pages back), then samples every 0.25 s
    until three consecutive samples agree within ``tolerance`` (relative) or ``max_wait_s`` passes.
    """
    proc = psutil.Process(pid)
    time.sleep(pause_s)
    samples = [proc.memory_info().rss]
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        samples.append(proc.memory_info().rss)
        last = samples[-3:]
        if len(last) == 3 and (max(last) - min(last)) <= tolerance * max(last):
            break
    return samples[-1]
