"""SIGTERM and SIGINT (Ctrl-C): how clouds, schedulers and users stop a job.

* Until training starts (imports, data indexing, graph compilation of eval/export) the first signal ends the process
  at once with one line and exit code 143 (SIGTERM) / 130 (SIGINT): Ctrl-C while MindSpore loads would otherwise
  abort it with a traceback (exit 134).
* During training (:class:`GracefulStop`) the first signal lets the current step finish; the trainer then writes a
  recovery checkpoint atomically, prints one line naming it and the resume command, and exits with 143 / 130.
* A second signal exits at once.  It is noticed by a thread woken through ``signal.set_wakeup_fd``, so it works even
  while the main thread is inside a long MindSpore step.
"""
import os
import signal
import socket
import sys
import threading

from model_zoo.engine.errors import ZooError

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


def signal_name(signum):
    return signal.Signals(signum).name


class Interrupted(ZooError):
    """A run stopped by a signal (its recovery checkpoint and resume command are in the message)."""

    prefix = "stopped"

    def __init__(self, message, signum):
        super().__init__(message, EXIT_CODES.get(signum, 128 + int(signum)))
        self.signum = signum


def _write(line):
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def exit_at_once_on_signals(note=""):
    """Install handlers that end the process at once on SIGTERM / SIGINT (one line, exit 143 / 130)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame):
        _write(f"stopped: {signal_name(signum)}{note}")
        os._exit(EXIT_CODES[signum])

    for signum in EXIT_CODES:
        signal.signal(signum, handler)


class GracefulStop:
    """Context manager for the training loop: ``signum`` is set by the first SIGTERM / SIGINT; a second exits."""

    def __init__(self, on_second=None):
        self.signum = None
        self.count = 0
        self.on_second = on_second  # called (from the watcher thread) just before a second signal exits
        self._lock = threading.Lock()
        self._previous = {}
        self._wakeup = None
        self._pair = None
        self._thread = None

    @property
    def requested(self):
        return self.signum is not None

    def _note(self, signum):
        with self._lock:
            self.count += 1
            first = self.signum is None
            if first:
                self.signum = signum
        if not first:
            _write(f"stopped: second {signal_name(signum)}: exiting at once (the current step is not saved)")
            if self.on_second is not None:
                try:
                    self.on_second()
                except Exception:  # noqa: BLE001 - never block the exit
                    pass
            os._exit(EXIT_CODES.get(signum, 128 + int(signum)))

    def _handler(self, signum, _frame):
        if self._thread is None:  # no watcher thread: count here
            self._note(signum)

    def _watch(self, sock):
        while True:
            try:
                data = sock.recv(64)
            except OSError:
                return
            if not data:
                return
            for byte in data:
                if byte in EXIT_CODES:
                    self._note(byte)

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._handler)
        try:
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            self._wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._pair = (reader, writer)
            self._thread = threading.Thread(target=self._watch, args=(reader,), name="zoo-signals", daemon=True)
            self._thread.start()
        except (OSError, ValueError):
            self._thread = None
        return self

    def __exit__(self, *exc):
        if threading.current_thread() is not threading.main_thread() or not self._previous:
            return False
        if self._pair is not None:
            signal.set_wakeup_fd(self._wakeup if self._wakeup is not None else -1)
            thread, self._thread = self._thread, None
            for sock in self._pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            if thread is not None:
                thread.join(timeout=1)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        return False
