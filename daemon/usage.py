"""Argument parsing for every ``observer-daemon`` command: a usage error is a
:class:`~observer.daemon.errors.UsageError` (exit code 64, one paragraph), never argparse's
own exit 2, which here would read as "configuration error"."""

from __future__ import annotations

import argparse
from typing import NoReturn

from observer.daemon.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors raise UsageError naming the command and where its help is."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")
