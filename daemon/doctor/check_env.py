"""Environment checks: the collector's settings against the environment table and against
what this deployment needs, the image's ENV against both, and whether the daemon would
accept the settings at all.
"""

from __future__ import annotations

import re

from observer.daemon.config import BY_NAME, ENV_TABLE, closest_name
from observer.daemon.doctor.context import Collector, Context
from observer.daemon.doctor.expected import RUNTIME_ENV, SECRET_OWNERS, cluster_value
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import Pod, container_env, dig, ref, secret_key_field
from observer.daemon.doctor.render import Obj, shown

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Settings judged on their own below (or by the path checks), never summarised as defaults.
_JUDGED = frozenset(
    {"KIS_ENV", "DB_HOST", "DB_NAME", "DB_USER", "DB_PORT", "OBSERVER_LISTEN_ADDRESS",
     "OBSERVER_CONTAINER", "OBSERVER_ENV_FILE"}
)  # fmt: skip
_SHORT = {v.name.removeprefix("OBSERVER_"): v.name for v in ENV_TABLE}
_PATH_WORDS = re.compile(r"_(PATH|FOLDER|ROOT|DIRECTORY)$")


def meant(key: str) -> str | None:
    """The table variable an unknown key was probably meant to be: DATA_PATH, LOG_DIR,
    OBSERVER_DATADIR -> OBSERVER_DATA_DIR, OBSERVER_LOG_DIR, OBSERVER_DATA_DIR."""
    short = _PATH_WORDS.sub("_DIR", key.removeprefix("OBSERVER_"))
    if short in _SHORT:
        return _SHORT[short]
    return closest_name(key, cutoff=0.8)


def secret_home(col: Collector, name: str) -> tuple[str, str, str]:
    """(object, field, fix) for a secret variable the collector lacks: the envFrom Secret
    when there is one, else a secretKeyRef from the Secret that owns it."""
    owner = SECRET_OWNERS.get(name, "observer-secrets")
    if col.env.secrets_from:
        _, sec = next(
            ((f, s) for f, s in col.env.secrets_from if dig(s, "metadata", "name") == owner),
            col.env.secrets_from[0],
        )
        sname = str(dig(sec, "metadata", "name"))
        return (
            ref(sec),
            secret_key_field(sec, name),
            f"add key {name} to {sec.get('kind')} {sname}.",
        )
    return (
        col.obj,
        f"{col.field}.env",
        (f"add env {name} with valueFrom.secretKeyRef {{name: {owner}, key: {name}}}."),
    )


def _place_config_error(col: Collector, error: str) -> tuple[str, str, str, str]:
    """(object, field, fix, variable) for a setting the daemon refuses."""
    m = re.match(r"([A-Z][A-Z0-9_]+)=", error)
    if m and m.group(1) in BY_NAME and not error.startswith("APP_ENV=production but"):
        name = m.group(1)
        obj, at = col.where(name)
        return obj, at, f"fix {name} in {obj} ({at}) as the message says.", name
    m = re.match(r"(KIS_APP_KEY|KIS_APP_SECRET) is not set but its partner", error)
    if m:
        obj, at, fix = secret_home(col, m.group(1))
        return obj, at, fix, m.group(1)
    if error.startswith("KIS credentials are set but KIS_ENV is not"):
        obj, at = col.where("KIS_ENV")
        return obj, at, f"set KIS_ENV: real (or paper) in {obj}.", "KIS_ENV"
    if error.startswith("APP_ENV=production but"):
        obj, at, fix = secret_home(col, "KIS_APP_KEY")
        return obj, at, (
            f"{fix.rstrip('.')} (and KIS_APP_SECRET); or set APP_ENV: development for a "
            "simulator deployment."
        ), "KIS_APP_KEY"  # fmt: skip
    if error.startswith("OBSERVER_ENV_FILE"):
        obj, at = col.where("OBSERVER_ENV_FILE")
        return obj, at, "fix the line the message names in the mounted file.", "OBSERVER_ENV_FILE"
    return col.obj, f"{col.field}.env", "fix the setting the message names.", ""


def check_collector_env(ctx: Context, col: Collector) -> list[Finding]:
    out: list[Finding] = []
    env = col.env.values
    if col.config_error:
        obj, at, fix, var = _place_config_error(col, col.config_error)
    if col.config_error and not any(d.field.endswith(f".env[{var}]") for d in col.env.dangling):
        # (a variable whose reference dangles is reported once, below)
        out.append(Finding(
            Severity.CRITICAL, obj, at,
            f"the daemon refuses these settings and exits at start: {col.config_error}",
            fix, var,
        ))  # fmt: skip
    for d in col.env.dangling:
        if d.optional:
            out.append(Finding(
                Severity.WARNING, col.obj, d.field,
                f"{d.what} is referenced (optional) but not provided: the variable stays unset.",
                f"add {d.what}, or drop the reference.",
            ))  # fmt: skip
        else:
            out.append(Finding(
                Severity.CRITICAL, col.obj, d.field,
                f"{d.what} is referenced but not provided: the kubelet cannot build the "
                "environment and the pod never starts (CreateContainerConfigError).",
                f"add {d.what} to the manifests (or to its SealedSecret), or fix the reference.",
            ))  # fmt: skip
    out += _check_env_file(col)
    out += _check_configmap_keys(col)
    for name, val in env.items():
        row = BY_NAME.get(name)
        if row is not None and row.secret and val.source == "literal":
            out.append(Finding(
                Severity.HIGH, val.obj, val.at,
                f"secret {name} is written in the manifest as a literal value.",
                f"take {name} from a Secret with secretKeyRef and rotate the value.",
                name,
            ))  # fmt: skip
    out += _check_listen(col)
    out += _check_database(ctx, col)
    if col.config is not None:
        out += _missing_secret(
            col, "OBSERVER_CONTROL_TOKEN", "OBSERVER_CONTROL_TOKEN is not provided: every "
            "control call (backup, rotate, subscriptions, retention) from the console is refused.",
        )  # fmt: skip
    return out


def _missing_secret(col: Collector, name: str, what: str) -> list[Finding]:
    """A WARNING where secret ``name`` should come from, unless something provides it."""
    if _provided(col, name):
        return []
    obj, at, fix = secret_home(col, name)
    return [Finding(Severity.WARNING, obj, at, what, fix, name)]


def _provided(col: Collector, name: str) -> bool:
    """Set, assumed from a Secret outside the manifests, or already reported as dangling."""
    return (
        name in col.env.values or name in col.assumed
        or any(d.field.endswith(f".env[{name}]") for d in col.env.dangling)
    )  # fmt: skip


def _check_env_file(col: Collector) -> list[Finding]:
    ef = col.env_file
    if ef.obj.startswith("ConfigMap/"):
        secrets = [k for k in ef.values if k in BY_NAME and BY_NAME[k].secret]
        if secrets:
            return [Finding(
                Severity.HIGH, ef.obj, f"data.{ef.key}",
                f"the env file {ef.path} comes from a ConfigMap and sets secret "
                f"{', '.join(secrets)}: readable by anyone who can read ConfigMaps.",
                f"move {', '.join(secrets)} to a Secret (secretKeyRef) and rotate the values.",
                secrets[0],
            )]  # fmt: skip
    if ef.state != "missing":
        return []
    obj, at = col.where("OBSERVER_ENV_FILE")
    return [Finding(
        Severity.CRITICAL, obj, at,
        f"OBSERVER_ENV_FILE={ef.path} names a file the container does not have ({ef.why}): "
        "the daemon cannot read it and exits at start, before collecting.",
        f"mount the file at {ef.path} (a Secret or ConfigMap volume with subPath), or remove "
        "OBSERVER_ENV_FILE (the ConfigMap and the Secrets already carry the settings).",
        "OBSERVER_ENV_FILE",
    )]  # fmt: skip


def _check_configmap_keys(col: Collector) -> list[Finding]:
    out: list[Finding] = []
    for cm in col.env.configmaps_used:
        ignored: list[str] = []
        for key in map(str, cm.get("data") or {}):
            row = BY_NAME.get(key)
            if row is not None and row.secret:
                out.append(Finding(
                    Severity.HIGH, ref(cm), f"data.{key}",
                    f"secret {key} is stored in a ConfigMap: readable by anyone who can read "
                    "ConfigMaps, printed by kubectl describe.",
                    f"move {key} to its Secret (secretKeyRef) and rotate the value.",
                    key,
                ))  # fmt: skip
            if row is not None or key in RUNTIME_ENV:
                continue
            guess = meant(key)
            if guess is None and not key.startswith(("OBSERVER_", "KIS_")):
                ignored.append(key)
                continue
            hint = f" (meant {guess}?)" if guess else ""
            out.append(Finding(
                Severity.WARNING, ref(cm), f"data.{key}",
                f"{key} is not a variable the daemon reads{hint}: it is ignored, and the "
                "setting it was meant for keeps its default.",
                f"rename it to {guess}." if guess else
                "rename it to the table's name (observer-daemon config lists them) or remove it.",
                guess or "",
            ))  # fmt: skip
        if ignored:
            out.append(Finding(
                Severity.INFO, ref(cm), "data",
                f"keys the daemon does not read (for other programs?): {', '.join(ignored)}.",
                "nothing to do if another container reads them.",
            ))  # fmt: skip
    return out


def _check_listen(col: Collector) -> list[Finding]:
    cfg = col.config
    if cfg is None:
        return []
    listen = cfg.listen_address
    cause = "OBSERVER_LISTEN_ADDRESS"
    if listen == "auto" and cfg.container == "false":
        listen, cause = "127.0.0.1", "OBSERVER_CONTAINER"
    if listen not in _LOOPBACK:
        return []
    obj, at = col.where(cause)
    why = (
        "OBSERVER_CONTAINER=false makes the automatic listen address 127.0.0.1"
        if cause == "OBSERVER_CONTAINER" else f"the daemon listens on {listen} only"
    )  # fmt: skip
    return [Finding(
        Severity.CRITICAL, obj, at,
        f"{why}: the kubelet's gRPC probes connect to the pod IP and always fail, so the pod "
        "is restarted in a loop.",
        'set OBSERVER_LISTEN_ADDRESS: "[::]"'
        + (" and remove OBSERVER_CONTAINER: false." if cause == "OBSERVER_CONTAINER" else "."),
        cause,
    )]  # fmt: skip


def _postgres_for(ctx: Context, col: Collector, host: str) -> tuple[Pod, Obj] | None:
    """The PostgreSQL pod DB_HOST points at (by Service), else the only one."""
    found = ctx.postgres_pods()
    svc = ctx.services.get(col.pod.namespace, host.split(".", 1)[0]) if host else None
    sel = dig(svc, "spec", "selector") or {}
    if sel:
        for p, c in found:
            labels = dig(p.owner, "spec", "template", "metadata", "labels") or {}
            if all(labels.get(k) == v for k, v in sel.items()):
                return p, c
    return found[0] if len(found) == 1 else None


def _check_database(ctx: Context, col: Collector) -> list[Finding]:
    cfg = col.config
    if cfg is None or cfg.standalone:
        return []
    out: list[Finding] = []
    pg = _postgres_for(ctx, col, cfg.db_host)
    if not cfg.db_host:
        if pg is not None:
            obj, at = col.where("DB_HOST")
            svc = str(dig(pg[0].owner, "spec", "serviceName") or "the PostgreSQL Service")
            out.append(Finding(
                Severity.WARNING, obj, at,
                f"DB_HOST is not set: the PostgreSQL sink is off, so {ref(pg[0].owner)} never "
                "receives a row (the files still hold every tick).",
                f"add DB_HOST: {svc} to {obj}.",
                "DB_HOST",
            ))  # fmt: skip
        return out
    out += _missing_secret(
        col, "DB_PASSWORD", "DB_HOST is set but DB_PASSWORD comes from nowhere: the PostgreSQL "
        "sink cannot log in (collection continues; rows wait in the files).",
    )  # fmt: skip
    if pg is None:
        return out
    pg_env = container_env(pg[0], pg[1], ctx.configmaps, ctx.secrets, None).values
    user = pg_env["POSTGRES_USER"].value if "POSTGRES_USER" in pg_env else "postgres"
    db = pg_env["POSTGRES_DB"].value if "POSTGRES_DB" in pg_env else user
    for name, ours, theirs, what in (
        ("DB_USER", cfg.db_user, user, "POSTGRES_USER"),
        ("DB_NAME", cfg.db_name, db, "POSTGRES_DB"),
    ):
        if "<" in theirs or ours == theirs:
            continue
        obj, at = col.where(name)
        default = "the code default " if name not in col.env.values else ""
        out.append(Finding(
            Severity.WARNING, obj, at,
            f"{name} is {default}{ours!r} but {ref(pg[0].owner)} creates {theirs!r} ({what}): "
            "the PostgreSQL sink cannot log in (rows wait in the files).",
            f"set {name}: {theirs} in {obj} (or {what} to {ours}).",
            name,
        ))  # fmt: skip
    return out


#: Families for the summary of defaults, by a word in the variable's name (first match).
_FAMILIES = (
    ("_DIR", "paths"), ("_SIM_", "simulator"),
    ("RETAIN", "retention and backups"), ("BACKUP", "retention and backups"),
    ("RETENTION", "retention and backups"), ("COMMIT", "group commit"),
    ("KIS_", "KIS endpoints"), ("PORT", "API and metrics"), ("WATCHDOG", "API and metrics"),
    ("TAIL", "API and metrics"), ("LOG_", "logging"),
)  # fmt: skip


def _family(name: str) -> str:
    return next((f for word, f in _FAMILIES if word in name), "feed and other settings")


def fallback_summary(col: Collector, findings: list[Finding]) -> list[Finding]:
    """One INFO line for the settings left to code defaults that suit a cluster."""
    judged = {f.variable for f in findings if f.severity > Severity.INFO}
    rest = [
        v.name for v in ENV_TABLE
        if not v.secret and v.name not in col.env.values and v.name not in col.env_file.values
        and v.name not in judged and v.name not in _JUDGED
    ]  # fmt: skip
    if not rest:
        return []
    families: dict[str, int] = {}
    for name in rest:
        families[_family(name)] = families.get(_family(name), 0) + 1
    obj, at = col.where(rest[0])
    n = len(rest)
    return [Finding(
        Severity.INFO, obj, at.rsplit(".", 1)[0] if at.startswith("data.") else at,
        f"{n} setting{'s' if n > 1 else ''} not set here keep the code's default, which suits "
        f"a cluster: {', '.join(f'{k} ({v})' for k, v in families.items())}.",
        "nothing to do; set one only to change it (--json or observer-daemon config lists them).",
        detail=", ".join(rest),
    )]  # fmt: skip


def check_image(ctx: Context) -> list[Finding]:
    """The Dockerfile's ENV against the table and the settings the collector gets."""
    image = ctx.image
    if image is None:
        return []
    out: list[Finding] = []
    obj = shown(image.path)
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
        if not v.is_path:
            continue  # a setting the cluster overrides on purpose (LOG_LEVEL, ...)
        for col in ctx.collectors:
            got = col.env.values.get(name)
            if got is None or got.source == "image" or got.value == value:
                continue
            out.append(Finding(
                Severity.HIGH, obj, f"ENV {name}",
                f"the image says {name}={value} but {got.obj} ({got.at}) says {got.value}: in "
                "the cluster the latter wins, but the image run on its own (a debug pod, a "
                "Job, docker run) writes to another place, so data splits between two paths.",
                f"make ENV {name} in {obj} and {got.obj} agree (the cluster layout is "
                f"{cluster_value(v)}, or the path the mounts use).",
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


def check_no_collector(ctx: Context) -> list[Finding]:
    """No collector at all is the first thing to say, with what was looked at."""
    if ctx.collectors:
        return []
    seen = [f"{p.container_field(c).rsplit('.', 1)[-1]} of {ref(p.owner)} ({c.get('image')})"
            for p in ctx.pods for c in p.containers()]  # fmt: skip
    if not seen:
        return [Finding(
            Severity.CRITICAL, "(manifests)", "",
            "these manifests hold no workload at all: nothing collects.",
            "add the collector Deployment (manifests/base/deployment.yaml).",
        )]  # fmt: skip
    return [Finding(
        Severity.CRITICAL, "(manifests)", "",
        f"no container runs the observer-daemon collector (looked at {'; '.join(seen)}): none has its "
        "command, an observer image, gRPC probes for observer.* health services or "
        "OBSERVER_*/KIS_* settings, so nothing is checked as the collector.",
        "if one of these is the collector, give it command [observer-daemon, run] (or the "
        "observer-daemon image) so the settings it needs can be checked; otherwise add the "
        "collector Deployment (manifests/base/deployment.yaml).",
    )]  # fmt: skip


def port_setting(col: Collector, name: str) -> int:
    """SERVICE_PORT or OBSERVER_METRICS_PORT as the daemon in this container will use it,
    also when other settings make it refuse to start (-1 when the value is not a number)."""
    raw = col.env.values.get(name)
    try:
        return int(raw.value) if raw else int(BY_NAME[name].default)
    except ValueError:
        return -1


def probe_port(col: Collector) -> int:
    """The gRPC port the daemon will listen on in this container."""
    return port_setting(col, "SERVICE_PORT")
