"""Console output of the command-line tools outside a run's logger: results on stdout, notes and errors on stderr.

A run (train / eval) logs through its own logger (:mod:`model_zoo.engine.runtime`); the other commands (export,
deploy, launcher, docs) write their user-facing lines through these two functions, never through a bare ``print``.
"""
import sys


def say(*lines):
    """Result lines on stdout (what the command reports: upstream printed these)."""
    for line in lines:
        sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def note(*lines):
    """Warnings, launcher progress and one-line errors on stderr."""
    for line in lines:
        sys.stderr.write(f"{line}\n")
    sys.stderr.flush()
