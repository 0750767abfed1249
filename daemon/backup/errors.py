"""Failures of the backup engine, each with a message that names the setting to fix.

They subclass the daemon's hierarchy (daemon/errors.py), so the CLI maps them to an exit
code and the API to a gRPC status like any other ObserverError.
"""

from __future__ import annotations

from observer.daemon.errors import Busy, ConfigError, ObserverError, Precondition


class RepositoryUnreachable(ObserverError):
    """The repository (object store) did not answer or stopped answering; retried later."""

    grpc_code = "UNAVAILABLE"


class RepositoryAuthError(ConfigError):
    """restic could not open the repository with the configured password or keys."""


class RepositoryLocked(Busy):
    """Another restic process (not one of ours) holds a lock on the repository."""


class ResticMissing(Precondition):
    """The restic binary is not installed."""


class SnapshotFailed(ObserverError):
    """restic ran but did not produce a snapshot; nothing was recorded as a backup."""
