"""Progress lines (steps done, img/s, ETA) for training and evaluation: one implementation for both.

The first step is left out of the speed and the ETA: it holds the graph compile and the data pipeline's start
(a 7-minute run once showed an ETA of 2:54:26 after its first step).  Its line shows how long it took and the
placeholder ``ETA -:--:--``; every later line measures from the end of the first step.
"""
import sys
import time

NO_ETA = "-:--:--"


def hms(seconds):
    """``h:mm:ss``."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """``measure(done, images)`` returns the speed and ETA text for ``done`` of ``total`` steps (``images`` images
    so far); ``show(line)`` writes a live line on a terminal, else a logger line when the caller says it is due."""

    def __init__(self, total, logger=None, live=None, clock=time.time):
        self.total, self.logger, self.clock = max(1, int(total)), logger, clock
        self.live = sys.stderr.isatty() if live is None else bool(live)
        self.begin = clock()
        self.first = None  # (time, done, images) at the end of the first step measured

    def measure(self, done, images):
        now = self.clock()
        if self.first is None:
            self.first = (now, done, images)
            return f"first step {now - self.begin:.1f} s ETA {NO_ETA}"
        start, done0, images0 = self.first
        elapsed = max(now - start, 1e-9)
        eta = (self.total - done) * elapsed / max(done - done0, 1)
        return f"{(images - images0) / elapsed:.1f} img/s ETA {hms(eta)}"

    def show(self, line, due=True, last=False):
        if self.live:
            sys.stderr.write("\r" + line + ("\n" if last else " " * 8))
            sys.stderr.flush()
        elif due and self.logger is not None:
            self.logger.info(line)

    def clear(self):
        """Remove the live line (before a log line takes its place)."""
        if self.live:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
