"""Environment checks: the ConfigMap against the environment table, the image's ENV against
both, secret references, and whether the daemon would accept the settings at all.
"""

from __future__ import annotations

from observer.daemon.config import BY_NAME, CLUSTER_RUNTIME, ENV_TABLE, closest_name
from observer.daemon.doctor.context import Collector, Context
from observer.daemon.doctor.expected import RUNTIME_ENV, cluster_value
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import dig, ref


def check_collector_env(ctx: Context, col: Collector) -> list[Finding]:
    out: list[Finding] = []
    obj = ref(col.pod.owner)
    env = col.env.values
    cms = [ctx.configmaps[n] for n in col.env.configmaps_used if n in ctx.configmaps]
    cm_ref = ref(cms[0]) if cms else obj
    if col.config_error:
        out.append(Finding(
            Severity.CRITICAL, obj, f"{col.field}.env",
            f"the daemon refuses these settings and exits at start: {col.config_error}",
            "fix the value in the ConfigMap (or the Secret) as the message says.",
        ))  # fmt: skip
    outside: set[str] = set()
    for path, what, optional in col.env.dangling:
        if what.endswith("(not in these manifests)"):
            if what in outside:
                continue
            outside.add(what)
            out.append(Finding(
                Severity.INFO, obj, path,
                f"{what.replace(' (not in these manifests)', '')} is not part of these "
                "manifests; it must exist in the namespace before the pod starts.",
                "create it from manifests/README.md (kubeseal), or add the SealedSecret to "
                "the overlay.",
            ))  # fmt: skip
        elif optional:
            out.append(Finding(
                Severity.WARNING, obj, path,
                f"{what} is referenced (optional) but not provided: the variable stays unset.",
                f"add {what}, or drop the reference.",
            ))  # fmt: skip
        else:
            out.append(Finding(
                Severity.CRITICAL, obj, path,
                f"{what} is referenced but not provided: the kubelet cannot build the "
                "environment and the pod never starts (CreateContainerConfigError).",
                f"add {what} to the manifests (or the SealedSecret), or fix the reference.",
            ))  # fmt: skip
    # Every non-secret variable should come from the ConfigMap (the one source of settings).
    for v in ENV_TABLE:
        if v.secret:
            continue
        got = env.get(v.name)
        if got is None or got.source == "image":
            fallback = (
                f"the image's value {got.value!r}" if got is not None
                else f"the code default {v.default!r}" + (
                    f" ({col.paths[v.name]} in the container)" if v.name in col.paths else "")
            )  # fmt: skip
            out.append(Finding(
                Severity.WARNING, cm_ref, f"data.{v.name}",
                f"{v.name} is not set by the ConfigMap: the daemon falls back to {fallback}.",
                f"add {v.name}: {cluster_value(v)!r} to the ConfigMap (the table's cluster "
                "value).",
                v.name,
            ))  # fmt: skip
        elif v.is_path and got.value and got.value != cluster_value(v):
            out.append(Finding(
                Severity.WARNING, cm_ref, f"data.{v.name}",
                f"{v.name}={got.value} differs from the code's cluster layout "
                f"({cluster_value(v)}, under {CLUSTER_RUNTIME}): the image, the README and "
                "this ConfigMap no longer describe the same place.",
                f"use {cluster_value(v)} (or change the table's cluster value and the mounts "
                "together).",
                v.name,
            ))  # fmt: skip
    for cm in cms:
        for key in cm.get("data") or {}:
            row = BY_NAME.get(str(key))
            if row is None and key not in RUNTIME_ENV:
                near = closest_name(str(key))
                out.append(Finding(
                    Severity.WARNING, ref(cm), f"data.{key}",
                    f"{key} is not a variable the daemon reads: it is ignored (a typo, or a "
                    "name from an old deployment?).",
                    f"rename it to {near} (did you mean it?) or remove it." if near else
                    "rename it to the table's name (observer-daemon config lists them) or "
                    "remove it.",
                ))  # fmt: skip
            elif row is not None and row.secret:
                out.append(Finding(
                    Severity.HIGH, ref(cm), f"data.{key}",
                    f"secret {key} is stored in a ConfigMap: readable by anyone who can read "
                    "ConfigMaps, printed by kubectl describe.",
                    f"move {key} to its Secret (secretKeyRef) and rotate the value.",
                    key,
                ))  # fmt: skip
    for name, val in env.items():
        row = BY_NAME.get(name)
        if row is not None and row.secret and val.source == "literal":
            out.append(Finding(
                Severity.HIGH, obj, val.field,
                f"secret {name} is written in the manifest as a literal value.",
                f"take {name} from a Secret with secretKeyRef and rotate the value.",
                name,
            ))  # fmt: skip
    listen = env.get("OBSERVER_LISTEN_ADDRESS")
    if listen is not None and listen.value in ("127.0.0.1", "localhost", "::1", "[::1]"):
        out.append(Finding(
            Severity.CRITICAL, cm_ref, "data.OBSERVER_LISTEN_ADDRESS",
            f"the daemon listens on {listen.value} only: the kubelet's gRPC probes connect to "
            "the pod IP and always fail, so the pod is restarted in a loop.",
            'set OBSERVER_LISTEN_ADDRESS: "[::]".',
            "OBSERVER_LISTEN_ADDRESS",
        ))  # fmt: skip
    cfg = col.config
    if cfg is not None:
        if cfg.postgres_enabled and "DB_PASSWORD" not in env:
            out.append(Finding(
                Severity.WARNING, obj, f"{col.field}.env",
                "DB_HOST is set but DB_PASSWORD comes from nowhere: the PostgreSQL sink "
                "cannot log in (collection continues; rows wait in the files).",
                "add DB_PASSWORD from Secret observer-db with secretKeyRef.",
                "DB_PASSWORD",
            ))  # fmt: skip
        if "OBSERVER_CONTROL_TOKEN" not in env:
            out.append(Finding(
                Severity.WARNING, obj, f"{col.field}.env",
                "OBSERVER_CONTROL_TOKEN is not provided: every control call (backup, rotate, "
                "subscriptions, retention) from the console is refused.",
                "add OBSERVER_CONTROL_TOKEN from Secret observer-console with secretKeyRef.",
                "OBSERVER_CONTROL_TOKEN",
            ))  # fmt: skip
    return out


def check_image(ctx: Context) -> list[Finding]:
    """The Dockerfile's ENV against the table and the ConfigMap the collector reads."""
    image = ctx.image
    if image is None:
        return []
    out: list[Finding] = []
    obj = str(image.path)
    for name, value in image.env.items():
        v = BY_NAME.get(name)
        if v is None:
            if name not in RUNTIME_ENV:
                out.append(Finding(
                    Severity.WARNING, obj, f"ENV {name}",
                    f"the image sets {name}, which the daemon never reads.",
                    "remove it or rename it to the table's variable.",
                ))  # fmt: skip
            continue
        if v.secret:
            out.append(Finding(
                Severity.HIGH, obj, f"ENV {name}",
                f"the image bakes secret {name} into a layer anyone who can pull it can read.",
                f"remove it from the Dockerfile; take {name} from a Secret at runtime.",
                name,
            ))  # fmt: skip
            continue
        for col in ctx.collectors:
            got = col.env.values.get(name)
            if got is None or got.source == "image" or got.value == value:
                continue
            sev = Severity.HIGH if v.is_path else Severity.WARNING
            out.append(Finding(
                sev, obj, f"ENV {name}",
                f"the image says {name}={value} but {got.source} says {got.value}: in the "
                "cluster the latter wins, but the image run on its own (a debug pod, a Job, "
                "docker run) uses another "
                + ("place, so data splits between two paths." if v.is_path else "value."),
                f"make them agree (the table's cluster value is {cluster_value(v)!r}).",
                name,
            ))  # fmt: skip
    if image.user in ("", "root", "0", "0:0"):
        out.append(Finding(
            Severity.WARNING, obj, "USER",
            "the image runs as root unless the pod overrides it; with runAsNonRoot the "
            "kubelet refuses to start a root image user that is not numeric.",
            "add USER 999:999 to the final stage.",
        ))  # fmt: skip
    return out


def check_listen_default(ctx: Context) -> list[Finding]:
    """No collector at all is the first thing to say."""
    if ctx.collectors:
        return []
    return [
        Finding(
            Severity.CRITICAL,
            "(manifests)",
            "",
            "no container runs observer-daemon (none uses its image, command or ConfigMap): "
            "nothing collects.",
            "add the collector Deployment (manifests/base/deployment.yaml).",
        )
    ]


def probe_port(col: Collector) -> int:
    """The gRPC port the daemon will listen on in this container."""
    if col.config is not None:
        return col.config.service_port
    raw = col.env.values.get("SERVICE_PORT")
    try:
        return int(raw.value) if raw else int(BY_NAME["SERVICE_PORT"].default)
    except ValueError:
        return -1


def is_read_only_root(col: Collector) -> bool:
    return bool(dig(col.container, "securityContext", "readOnlyRootFilesystem"))
