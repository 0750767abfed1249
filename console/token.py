"""Where the control token comes from: a file, the environment, or a Kubernetes Secret.

Only the value's origin is ever shown; the value goes into the ``authorization`` header and
nowhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from observer.console.client import ConsoleError

ENV_VAR = "OBSERVER_CONTROL_TOKEN"


class TokenError(ConsoleError):
    """The token was asked for but cannot be read (a usage error: the command line names a
    file or a Secret that is not there)."""

    exit_code = 64


class ClusterUnreachable(TokenError):
    """The cluster holding the token's Secret does not answer."""

    exit_code = 2


@dataclass(frozen=True)
class Token:
    value: str
    #: "file PATH", "env OBSERVER_CONTROL_TOKEN", "secret NS/NAME[KEY]".
    origin: str

    def __repr__(self) -> str:
        # Nothing derived from the value (a hash of it would let it be guessed offline).
        return f"Token(origin={self.origin!r})"


def from_file(path: Path) -> Token:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise TokenError(
            f"cannot read the control token file {path}: {err.strerror or err}; "
            "check the path given to --token-file"
        ) from None
    if not value:
        raise TokenError(f"the control token file {path} is empty; put the daemon's token in it")
    return Token(value, f"file {path}")


def from_secret(
    name: str, namespace: str | None, context: str | None, kubeconfig: str | None = None
) -> Token:
    """Read ``NAME[:KEY]`` from the cluster (default key OBSERVER_CONTROL_TOKEN, or the only key)."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    secret_name, _, key = name.partition(":")
    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (ConfigException, OSError) as err:
        raise TokenError(
            f"cannot load the kubeconfig to read secret {secret_name!r}: {err}; "
            "check KUBECONFIG / --context, or use --token-file"
        ) from None
    ns = namespace or "default"
    try:
        with api_client:
            secret = client.CoreV1Api(api_client).read_namespaced_secret(secret_name, ns)
    except ApiException as err:
        raise TokenError(
            f"cannot read secret {ns}/{secret_name}: HTTP {err.status} {err.reason}; "
            "check the name, the namespace (-n) and that your account may get secrets there"
        ) from None
    except OSError as err:
        raise ClusterUnreachable(
            f"cannot reach the cluster to read secret {ns}/{secret_name}: {err}"
        ) from None
    data = {k: v if isinstance(v, str) else v.decode() for k, v in (secret.data or {}).items()}
    if not key:
        key = ENV_VAR if ENV_VAR in data or len(data) != 1 else next(iter(data))
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise TokenError(
            f"secret {ns}/{secret_name} has no key {key!r} (keys: {keys}); "
            f"name one with --token-from-secret {secret_name}:KEY"
        )
    value = base64.b64decode(data[key]).decode("utf-8").strip()
    return Token(value, f"secret {ns}/{secret_name}[{key}]")


def resolve(
    *,
    token_file: Path | None,
    secret: str | None,
    namespace: str | None,
    context: str | None,
    environ: Mapping[str, str],
) -> Token | None:
    """The token by precedence: --token-file, --token-from-secret, then the environment."""
    if token_file is not None:
        return from_file(token_file)
    if secret:
        return from_secret(secret, namespace, context, environ.get("KUBECONFIG"))
    value = environ.get(ENV_VAR, "").strip()
    return Token(value, f"env {ENV_VAR}") if value else None
