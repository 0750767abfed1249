"""The daemon's exception hierarchy.

Every message is written for the operator who will read it: what failed, the value, and
what to do. Each class maps to one process exit code (CLI) and one gRPC status (API).

Exit codes of every ``observer-daemon`` command (the README lists them): 0 ok, 1 an
operation failed, 2 configuration error, 3 startup contract failed, 4 another daemon holds
the data directory, 5 a backup failed verification, 64 usage error (a command line that
cannot be run as given: an unknown flag, a missing archive, a non-empty restore target),
130 interrupted. ``doctor`` maps its findings to 0-3 and uses 64 the same way.
"""

from __future__ import annotations

#: Exit code of a command line that cannot be run as given (sysexits.h EX_USAGE). argparse's
#: own 2 would read as "configuration error" here.
EXIT_USAGE = 64


class ObserverError(Exception):
    """Base class: a foreseeable failure with an operator-facing message."""

    exit_code = 1
    #: Name of the grpc.StatusCode the API maps this error to.
    grpc_code = "INTERNAL"


class ConfigError(ObserverError):
    """A setting is missing, malformed or contradicts another."""

    exit_code = 2
    grpc_code = "INVALID_ARGUMENT"


class ContractError(ObserverError):
    """The startup contract failed: a written path is unusable or would lose data."""

    exit_code = 3
    grpc_code = "FAILED_PRECONDITION"


class LockHeldError(ContractError):
    """Another daemon already writes to this data directory."""

    exit_code = 4


class InvalidRequest(ObserverError):
    """A request (or command line) with a value that cannot be used."""

    exit_code = EXIT_USAGE
    grpc_code = "INVALID_ARGUMENT"


class UsageError(InvalidRequest):
    """A command line that cannot be parsed (unknown flag, missing argument)."""


class NotFound(ObserverError):
    """A request (or command line) names something that does not exist."""

    exit_code = EXIT_USAGE
    grpc_code = "NOT_FOUND"


class Precondition(ObserverError):
    grpc_code = "FAILED_PRECONDITION"


class Busy(ObserverError):
    """Something that runs one at a time (a backup) is already running."""

    grpc_code = "RESOURCE_EXHAUSTED"


class KisError(ObserverError):
    """KIS answered with an error envelope or an unusable response."""

    grpc_code = "UNAVAILABLE"

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class KisRateLimited(KisError):
    """EGW00201 (REST rate) or EGW00133 (token reissue limit): wait, never hammer."""


class KisAuthError(KisError):
    """Credentials refused, or a token expired/invalid (EGW00121/EGW00123)."""


class IntegrityError(ObserverError):
    """A backup or file failed verification."""

    exit_code = 5
    grpc_code = "DATA_LOSS"
