"""The daemon's exception hierarchy.

Every message is written for the operator who will read it: what failed, the value, and
what to do. Each class maps to one process exit code (CLI) and one gRPC status (API).
"""

from __future__ import annotations


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
    grpc_code = "INVALID_ARGUMENT"


class NotFound(ObserverError):
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
