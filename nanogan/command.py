"""How every nanogan command (train.py, sample.py, evaluate.py, bench.py, the `python -m`
tools) reads its command line and ends: argparse with abbreviations refused, every error
one `error: ...` line on stderr and exit status 2, Ctrl-C exit status 130, never a
traceback for anything the user can fix.
"""
import argparse
import os
import sys

from .errors import NanoganError
from .files import shown


class Parser(argparse.ArgumentParser):
    """argparse with abbreviations refused (`--epoch` is not `--epochs`) and its errors raised
    as NanoganError, so that `main` prints them as one line."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message):
        raise NanoganError(f"{message}; see --help.")


def whole(low, high=None):
    """An argparse type for a whole number from `low` (to `high`, if given): the sizes of
    bench.py and the tools. (train.py's values are checked by nanogan.run.config.RULES.)"""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value
    return parse


def main(command, argv=None):
    """Run command(argv) as a program: its exit status, with every NanoganError one line."""
    try:
        return command(argv)
    except NanoganError as e:
        return _error(str(e))
    except KeyboardInterrupt:
        _say("\ninterrupted")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`| head`): nothing more to say to it, and
        # nothing left in stdout's buffer for Python to fail on at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 2
    except OSError as e:        # what no check foresaw: still one line
        if e.filename is None:  # stdout itself (> /dev/full)
            return _error(f"cannot write the output ({e.strerror or type(e).__name__}).")
        return _error(f"cannot use {shown(e.filename)} ({e.strerror or type(e).__name__}).")


def _error(message):
    _say(f"error: {message}")
    return 2


def _say(text):
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass
