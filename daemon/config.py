"""The environment contract: one table of every setting the daemon reads.

Each field of :class:`Config` is one environment variable, described by :func:`setting`
(default, kind, whether the daemon writes to it, whether it is secret). The loader, the
``observer-daemon config`` command, the startup contract, ``doctor`` and the README's
configuration table are all derived from this one table.

Precedence: command-line flags, then the process environment, then the dotenv file named
by ``OBSERVER_ENV_FILE``, then the defaults below. With nothing set, every path lives under
``./observer-runtime/`` and the built-in simulator is the source.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from observer.daemon.errors import ConfigError
from observer.daemon.symbols import MAX_REGISTRATIONS, SymbolError, parse_symbols

#: Where every path lives on a laptop when nothing is set (relative to the working directory).
LOCAL_RUNTIME = "observer-runtime"
#: Where every path lives in the cluster (the ConfigMap and the image set these).
CLUSTER_RUNTIME = "/opt/platform/runtime/observer"


class Kind(StrEnum):
    PATH = "path"
    SECRET = "secret"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    CHOICE = "choice"
    SYMBOLS = "symbols"
    TIME = "time"
    PORT = "port"


#: TCP ports: 1-65535 (0 only where a row says what it means).
PORT_MAX = 65535
#: Prefixes of the names this table owns: a name with one of them that the table does not
#: know is a typo or a leftover of an old deployment, and the daemon says so at start.
OWN_PREFIXES = ("OBSERVER_", "KIS_", "DB_")


@dataclass(frozen=True)
class Var:
    """One row of the environment table."""

    name: str
    attr: str
    kind: Kind
    default: str
    help: str
    written: bool = False
    secret: bool = False
    #: The value must not be empty (an empty watchlist would collect nothing).
    required: bool = False
    choices: tuple[str, ...] = ()
    flag: str | None = None
    cluster: str | None = None  # value in the cluster ConfigMap when it differs from default
    #: A port row: what 0 means ("off", "any free port"); empty when 0 is refused.
    zero: str = ""

    @property
    def is_path(self) -> bool:
        return self.kind is Kind.PATH

    @property
    def kind_text(self) -> str:
        """The kind as the README and ``config`` show it, with its domain."""
        if self.choices:
            return f"{self.kind.value} ({'/'.join(c for c in self.choices if c)})"
        if self.kind is Kind.PORT:
            return f"port (1-{PORT_MAX}" + (f"; 0 = {self.zero})" if self.zero else ")")
        return self.kind.value


def setting(
    name: str,
    kind: Kind,
    default: str,
    help: str,
    *,
    written: bool = False,
    required: bool = False,
    choices: tuple[str, ...] = (),
    flag: str | None = None,
    cluster: str | None = None,
    zero: str = "",
) -> Any:
    """Declare a Config field backed by environment variable ``name``."""
    return field(
        metadata={
            "var": dict(
                name=name,
                kind=kind,
                default=default,
                help=help,
                written=written,
                secret=kind is Kind.SECRET,
                required=required,
                choices=choices,
                flag=flag,
                cluster=cluster,
                zero=zero,
            )
        }
    )


_C = CLUSTER_RUNTIME


@dataclass(frozen=True)
class Config:
    """Effective settings. Build it with :func:`load_config`, never by hand in production code."""

    # --- paths -------------------------------------------------------------------------
    data_dir: Path = setting(
        "OBSERVER_DATA_DIR", Kind.PATH, f"{LOCAL_RUNTIME}/data",
        "Tick files (assets/), event bus, Parquet datasets, backups. Must be a persistent volume.",
        written=True, flag="--data-dir", cluster=f"{_C}/data",
    )  # fmt: skip
    log_dir: Path = setting(
        "OBSERVER_LOG_DIR", Kind.PATH, f"{LOCAL_RUNTIME}/logs",
        "Root of the log folders (system, scalp, swing, maintenance).",
        written=True, flag="--log-dir", cluster=f"{_C}/logs",
    )  # fmt: skip
    system_log_dir: Path = setting(
        "OBSERVER_SYSTEM_LOG_DIR", Kind.PATH, "{OBSERVER_LOG_DIR}/system",
        "System log, gap records (gap_YYYYMMDD.jsonl), overflow accounting.",
        written=True, cluster=f"{_C}/logs/system",
    )  # fmt: skip
    maintenance_log_dir: Path = setting(
        "OBSERVER_MAINTENANCE_LOG_DIR", Kind.PATH, "{OBSERVER_LOG_DIR}/maintenance",
        "Backup, retention and repair log.",
        written=True, cluster=f"{_C}/logs/maintenance",
    )  # fmt: skip
    snapshot_dir: Path = setting(
        "OBSERVER_SNAPSHOT_DIR", Kind.PATH, "{OBSERVER_DATA_DIR}/snapshots",
        "Periodic status snapshots (status.json) kept for post-mortems after a crash.",
        written=True, cluster=f"{_C}/data/snapshots",
    )  # fmt: skip
    config_dir: Path = setting(
        "OBSERVER_CONFIG_DIR", Kind.PATH, f"{LOCAL_RUNTIME}/config",
        "Operator configuration (optional universe.csv, watchlist); read-only, included in backups.",
        cluster=f"{_C}/config",
    )  # fmt: skip
    token_cache_dir: Path = setting(
        "KIS_TOKEN_CACHE_DIR", Kind.PATH, "{OBSERVER_DATA_DIR}/.kis-token",
        "KIS access-token cache (mode 0600). Keep it on a persistent volume: a lost cache "
        "means a reissue, and reissues are rate-limited by KIS.",
        written=True, cluster=f"{_C}/data/.kis-token",
    )  # fmt: skip
    env_file: str = setting(
        "OBSERVER_ENV_FILE", Kind.STR, "",
        "Optional dotenv file read after the process environment (flags > env > this file > defaults).",
        flag="--env-file",
    )  # fmt: skip

    # --- KIS ---------------------------------------------------------------------------
    kis_app_key: str = setting(
        "KIS_APP_KEY", Kind.SECRET, "", "KIS app key. Unset: the built-in simulator is the source."
    )
    kis_app_secret: str = setting("KIS_APP_SECRET", Kind.SECRET, "", "KIS app secret.")
    kis_hts_id: str = setting(
        "KIS_HTS_ID", Kind.SECRET, "", "KIS HTS user id (only for account notices; optional)."
    )
    kis_env: str = setting(
        "KIS_ENV", Kind.CHOICE, "",
        "Which KIS servers to use when credentials are set: real or paper. Required then.",
        choices=("", "real", "paper"), flag="--kis-env", cluster="real",
    )  # fmt: skip
    kis_rest_url: str = setting(
        "KIS_REST_URL", Kind.STR, "", "Override the KIS REST base URL (default from KIS_ENV)."
    )
    kis_ws_url: str = setting(
        "KIS_WS_URL", Kind.STR, "", "Override the KIS websocket URL (default from KIS_ENV)."
    )
    market: str = setting(
        "OBSERVER_MARKET", Kind.CHOICE, "KRX",
        "Realtime feed: KRX (H0STCNT0), NXT (H0NXCNT0) or UN, integrated (H0UNCNT0).",
        choices=("KRX", "NXT", "UN"),
    )  # fmt: skip
    after_hours: bool = setting(
        "OBSERVER_AFTER_HOURS", Kind.BOOL, "false",
        "Also collect KRX after-hours single-price trades (H0STOUP0, 16:00-18:00) of the "
        "watchlist into the scalp track (session after_hours); each symbol then takes two of "
        f"the {MAX_REGISTRATIONS} registrations. OBSERVER_MARKET=KRX only.",
    )  # fmt: skip
    symbols: tuple[str, ...] = setting(
        "OBSERVER_SYMBOLS", Kind.SYMBOLS, "005930,000660,035420,035720,005380,051910,006400,068270",
        "Scalp watchlist: comma-separated symbols (6-digit KRX codes, or Q and 6 characters for "
        f"ETNs) subscribed on the websocket (1 to {MAX_REGISTRATIONS}; empty is refused).",
        flag="--symbols", required=True,
    )  # fmt: skip
    swing_symbols: tuple[str, ...] = setting(
        "OBSERVER_SWING_SYMBOLS", Kind.SYMBOLS, "",
        "Swing universe polled over REST; empty = every symbol of the universe file.",
    )  # fmt: skip
    swing_interval: float = setting(
        "OBSERVER_SWING_INTERVAL", Kind.FLOAT, "60",
        "Seconds between two sweeps of the swing universe (0 disables the swing track).",
    )  # fmt: skip
    min_price: int = setting(
        "OBSERVER_MIN_PRICE", Kind.INT, "0",
        "Swing track: snapshots of symbols priced below this (won) are not written; 0 keeps all.",
    )  # fmt: skip
    rest_rate: float = setting(
        "OBSERVER_REST_RATE", Kind.FLOAT, "0",
        "REST requests per second; 0 = below the KIS limit for the environment (15 real, 1.5 paper).",
    )  # fmt: skip

    # --- files -------------------------------------------------------------------------
    commit_interval_ms: int = setting(
        "OBSERVER_COMMIT_INTERVAL_MS", Kind.INT, "200",
        "Group commit: write and fsync tick files at most this often (milliseconds).",
    )  # fmt: skip
    commit_records: int = setting(
        "OBSERVER_COMMIT_RECORDS", Kind.INT, "20000",
        "Group commit: also write and fsync once this many records are pending.",
    )  # fmt: skip
    min_free_mb: int = setting(
        "OBSERVER_MIN_FREE_MB", Kind.INT, "64",
        "Free space (MiB) each written volume must keep; below it the contract fails at start "
        "and readiness goes NOT_SERVING.",
    )  # fmt: skip
    container: str = setting(
        "OBSERVER_CONTAINER", Kind.CHOICE, "auto",
        "Container mode: written paths must be on mounted volumes, not the root filesystem. "
        "auto detects a container.",
        choices=("auto", "true", "false"), flag="--container", cluster="true",
    )  # fmt: skip

    # --- API ---------------------------------------------------------------------------
    service_port: int = setting(
        "SERVICE_PORT", Kind.PORT, "50051",
        "gRPC port (status, tail, control, health, reflection); 0 = any free port (tests).",
        flag="--port", zero="any free port",
    )  # fmt: skip
    listen_address: str = setting(
        "OBSERVER_LISTEN_ADDRESS", Kind.STR, "auto",
        "gRPC/metrics listen address; auto = 127.0.0.1 on a laptop, [::] in a container.",
        flag="--listen", cluster="[::]",
    )  # fmt: skip
    metrics_port: int = setting(
        "OBSERVER_METRICS_PORT", Kind.PORT, "9464", "Prometheus metrics port (0 disables).",
        zero="off",
    )  # fmt: skip
    control_token: str = setting(
        "OBSERVER_CONTROL_TOKEN", Kind.SECRET, "",
        "Bearer token required by control calls (backup, rotate, subscriptions, retention). "
        "Unset: control calls are refused.",
    )  # fmt: skip
    watchdog_seconds: float = setting(
        "OBSERVER_WATCHDOG_SECONDS", Kind.FLOAT, "15",
        "Liveness goes NOT_SERVING when the event loop or the writer stalls longer than this.",
    )  # fmt: skip
    tail_buffer: int = setting(
        "OBSERVER_TAIL_BUFFER", Kind.INT, "20000",
        "Ticks buffered per tail subscriber; a slower subscriber loses its oldest ticks.",
    )  # fmt: skip

    # --- PostgreSQL --------------------------------------------------------------------
    db_host: str = setting(
        "DB_HOST", Kind.STR, "", "PostgreSQL host; unset disables the PostgreSQL sink.",
        cluster="observer-postgres",
    )  # fmt: skip
    db_port: int = setting("DB_PORT", Kind.PORT, "5432", "PostgreSQL port.")
    db_name: str = setting("DB_NAME", Kind.STR, "observer", "PostgreSQL database.")
    db_user: str = setting("DB_USER", Kind.STR, "observer", "PostgreSQL user.")
    db_password: str = setting("DB_PASSWORD", Kind.SECRET, "", "PostgreSQL password.")
    standalone: bool = setting(
        "OBSERVER_STANDALONE", Kind.BOOL, "false",
        "Files only: the PostgreSQL sink stays off even when DB_HOST is set.",
    )  # fmt: skip

    # --- backups (restic snapshots off the data volume) and retention ------------------
    backup_repository: str = setting(
        "OBSERVER_BACKUP_REPOSITORY", Kind.STR, f"{LOCAL_RUNTIME}/backup-repo",
        "restic repository for snapshots: s3:https://HOST/BUCKET/PREFIX (OCI Object Storage's S3 "
        "endpoint, MinIO, SeaweedFS) or a local directory. The default is a local repository "
        "outside the data directory with a generated password beside it (laptop, make demo); "
        "in the cluster it must be off the data volume.",
        cluster="s3:http://objectstore.observer-storage.svc:8333/observer-backups/observer",
    )  # fmt: skip
    backup_password: str = setting(
        "OBSERVER_REPO_PASSWORD", Kind.SECRET, "",
        "restic repository password. Unset with a local repository: generated once into "
        "<repository>.password (0600) beside it. Losing it loses the backups.",
    )  # fmt: skip
    backup_s3_access_key: str = setting(
        "OBSERVER_S3_ACCESS_KEY", Kind.SECRET, "",
        "Object-store access key (OCI: customer secret key id) for an s3: repository.",
    )  # fmt: skip
    backup_s3_secret_key: str = setting(
        "OBSERVER_S3_SECRET_KEY", Kind.SECRET, "",
        "Object-store secret key for an s3: repository.",
    )  # fmt: skip
    backup_s3_region: str = setting(
        "OBSERVER_S3_REGION", Kind.STR, "",
        "Object-store region (OCI needs it set, e.g. ap-seoul-1); empty = the client's default.",
    )  # fmt: skip
    backup_after_rotation_minutes: int = setting(
        "OBSERVER_BACKUP_AFTER_ROTATION_MINUTES", Kind.INT, "10",
        "A snapshot within this many minutes after each segment rotation (0: only the daily one).",
    )  # fmt: skip
    backup_time: str = setting(
        "OBSERVER_BACKUP_TIME", Kind.TIME, "16:00",
        "Daily scheduled snapshot, HH:MM KST, followed by the repository policy (forget + prune); "
        "empty disables it.",
    )  # fmt: skip
    backup_rpo_minutes: int = setting(
        "OBSERVER_BACKUP_RPO_MINUTES", Kind.INT, "90",
        "Bound on the age of the newest data off the volume during market hours; status turns "
        "red above it.",
    )  # fmt: skip
    backup_keep_hourly: int = setting(
        "OBSERVER_BACKUP_KEEP_HOURLY", Kind.INT, "24", "Repository policy: hourly snapshots kept."
    )
    backup_keep_daily: int = setting(
        "OBSERVER_BACKUP_KEEP_DAILY", Kind.INT, "14", "Repository policy: daily snapshots kept."
    )
    backup_keep_weekly: int = setting(
        "OBSERVER_BACKUP_KEEP_WEEKLY", Kind.INT, "8", "Repository policy: weekly snapshots kept."
    )
    backup_keep_monthly: int = setting(
        "OBSERVER_BACKUP_KEEP_MONTHLY", Kind.INT, "36",
        "Repository policy: monthly snapshots kept (these carry the Parquet long-term tier).",
    )  # fmt: skip
    backup_verify_read_percent: float = setting(
        "OBSERVER_BACKUP_VERIFY_READ_PERCENT", Kind.FLOAT, "5",
        "Share (%) of the repository's pack data that verify reads back (restic check "
        "--read-data-subset); 100 reads everything.",
    )  # fmt: skip
    backup_drill_day: str = setting(
        "OBSERVER_BACKUP_DRILL_DAY", Kind.CHOICE, "sat",
        "Weekly restore drill after that day's scheduled snapshot: the newest snapshot is "
        "restored to scratch space and every sha256 compared (empty disables).",
        choices=("", "mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    )  # fmt: skip
    backup_scratch_dir: Path = setting(
        "OBSERVER_BACKUP_SCRATCH_DIR", Kind.PATH, "{OBSERVER_LOG_DIR}/restore-scratch",
        "Scratch space for verify and drill restores (emptied after each); on the logs volume "
        "unless set, so a deployment that mounts its logs has it.",
        written=True, cluster=f"{_C}/logs/restore-scratch",
    )  # fmt: skip
    backup_scratch_mb: int = setting(
        "OBSERVER_BACKUP_SCRATCH_MB", Kind.INT, "1024",
        "Verify restores in batches of at most this many MiB of file data into the scratch space.",
    )  # fmt: skip
    backup_stall_seconds: int = setting(
        "OBSERVER_BACKUP_STALL_SECONDS", Kind.INT, "120",
        "A restic command that makes no progress for this long (object store hung) is stopped "
        "and retried with backoff.",
    )  # fmt: skip
    retain_backup_days: int = setting(
        "OBSERVER_RETAIN_BACKUP_DAYS", Kind.INT, "30",
        "Legacy .tar.gz archives (backups/archives/) older than this are deleted once a verified "
        "snapshot holds every file in them; 0 keeps them.",
    )  # fmt: skip
    retention_time: str = setting(
        "OBSERVER_RETENTION_TIME", Kind.TIME, "17:00",
        "Daily retention run, HH:MM KST (empty disables the schedule).",
    )  # fmt: skip
    retain_scalp_log_days: int = setting(
        "OBSERVER_RETAIN_SCALP_LOG_DAYS", Kind.INT, "3", "Days scalp logs are kept."
    )
    retain_swing_log_days: int = setting(
        "OBSERVER_RETAIN_SWING_LOG_DAYS", Kind.INT, "7", "Days swing logs are kept."
    )
    retain_system_log_days: int = setting(
        "OBSERVER_RETAIN_SYSTEM_LOG_DAYS",
        Kind.INT,
        "30",
        "Days system and maintenance logs are kept.",
    )
    retain_raw_days: int = setting(
        "OBSERVER_RETAIN_RAW_DAYS", Kind.INT, "7",
        "Days raw tick files (assets/) are kept; older ones are deleted only once their Parquet "
        "file exists, PostgreSQL (when on) has loaded them and a verified snapshot off the data "
        "volume holds the same sha256. 0 keeps them forever.",
    )  # fmt: skip
    retain_dataset_days: int = setting(
        "OBSERVER_RETAIN_DATASET_DAYS",
        Kind.INT,
        "150",
        "Days Parquet datasets are kept on the volume (older ones only once a verified snapshot "
        "off the volume holds them; the repository's monthly snapshots keep them longer); 0 = forever.",
    )

    # --- logging and deployment labels -------------------------------------------------
    log_level: str = setting(
        "LOG_LEVEL", Kind.CHOICE, "INFO", "Log level.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"), flag="--log-level",
    )  # fmt: skip
    log_format: str = setting(
        "LOG_FORMAT", Kind.CHOICE, "text", "Log format: text or json (one object per line).",
        choices=("text", "json"),
    )  # fmt: skip
    app_env: str = setting(
        "APP_ENV", Kind.CHOICE, "development",
        "Deployment label. production refuses to start on the simulator (no KIS credentials).",
        choices=("development", "staging", "production"), cluster="production",
    )  # fmt: skip
    tz: str = setting(
        "TZ", Kind.STR, "",
        "Process time zone for third-party libraries; market time is always KST regardless.",
        cluster="Asia/Seoul",
    )  # fmt: skip

    # --- simulator (used when KIS credentials are unset, or by `observer-daemon simulate`) -
    sim_rate: float = setting(
        "OBSERVER_SIM_RATE", Kind.FLOAT, "200", "Simulator: ticks per second across all symbols."
    )
    sim_seed: int = setting(
        "OBSERVER_SIM_SEED", Kind.INT, "0", "Simulator: random seed (0 = random)."
    )
    sim_drop_every: float = setting(
        "OBSERVER_SIM_DROP_EVERY", Kind.FLOAT, "0",
        "Simulator fault: drop every websocket connection after this many seconds (0 = never).",
    )  # fmt: skip
    sim_malformed: float = setting(
        "OBSERVER_SIM_MALFORMED", Kind.FLOAT, "0",
        "Simulator fault: fraction of realtime frames sent malformed (0..1).",
    )  # fmt: skip
    sim_wide_share: float = setting(
        "OBSERVER_SIM_WIDE_SHARE", Kind.FLOAT, "0.2",
        "Simulator: fraction of realtime frames whose records carry the 47th column "
        "(MARKET_CLS_CODE), as newer KIS servers send (0..1).",
    )  # fmt: skip
    sim_market_hours: str = setting(
        "OBSERVER_SIM_MARKET_HOURS", Kind.CHOICE, "always",
        "Simulator: trade around the clock (always) or only 09:00-15:30 KST (krx).",
        choices=("always", "krx"),
    )  # fmt: skip

    # ------------------------------------------------------------------------------------
    @property
    def uses_simulator(self) -> bool:
        """True when no KIS credentials are configured: the built-in simulator is the source."""
        return not (self.kis_app_key and self.kis_app_secret)

    @property
    def postgres_enabled(self) -> bool:
        return bool(self.db_host) and not self.standalone


def _vars() -> tuple[Var, ...]:
    out = []
    for f in dataclasses.fields(Config):
        meta = f.metadata["var"]
        out.append(Var(attr=f.name, **meta))
    return tuple(out)


#: The environment table, in declaration order.
ENV_TABLE: tuple[Var, ...] = _vars()
BY_NAME: dict[str, Var] = {v.name: v for v in ENV_TABLE}


def var(name: str) -> Var:
    """The table row for ``name`` (KeyError names the unknown variable)."""
    return BY_NAME[name]


# --- loading -----------------------------------------------------------------------------

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TEMPLATE = re.compile(r"\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class Origin:
    """Where an effective value came from: ``flag``, ``env``, ``env-file`` or ``default``."""

    source: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.source} {self.detail}".strip()


def closest_name(name: str, cutoff: float = 0.6) -> str | None:
    """The table's variable most like ``name`` (a likely typo), if any is as close as
    ``cutoff`` (difflib's ratio)."""
    found = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=cutoff)
    return found[0] if found else None


@dataclass(frozen=True)
class UnknownName:
    """An OBSERVER_/KIS_/DB_ name that is set but is no setting of this table."""

    name: str
    #: ``env`` or ``env-file PATH``.
    source: str
    closest: str | None

    def message(self) -> str:
        hint = (
            f"did you mean {self.closest}?"
            if self.closest
            else "`observer-daemon config` lists every setting."
        )
        return f"{self.name} (from {self.source}) is not a setting of observer-daemon and is ignored; {hint}"


def unknown_names(values: Mapping[str, str], source: str) -> list[UnknownName]:
    """The names in ``values`` that look like settings (by prefix) but are not in the table."""
    return [
        UnknownName(name, source, closest_name(name))
        for name in sorted(values)
        if name.startswith(OWN_PREFIXES) and name not in BY_NAME
    ]


@dataclass(frozen=True)
class Loaded:
    config: Config
    origins: Mapping[str, Origin]
    raw: Mapping[str, str]
    #: Names that look like settings but are not (typos): warned about once at start.
    unknown: tuple[UnknownName, ...] = ()


def parse_dotenv(text: str, where: str = "env file") -> dict[str, str]:
    """Parse dotenv text: ``KEY=value``, optional ``export``, quotes, ``#`` comments."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        key, sep, value = s.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(
                f"{where} line {n} is not KEY=value ({line[:40]!r}); fix or remove that line."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def _convert(v: Var, text: str, origin: Origin) -> Any:
    def bad(why: str) -> ConfigError:
        shown = "(secret)" if v.secret else repr(text)
        return ConfigError(f"{v.name}={shown} from {origin} is invalid: {why}.")

    if v.kind is Kind.PATH:
        return Path(text).expanduser().absolute() if text else Path()
    if v.required and not text.replace(",", "").strip():
        if v.kind is Kind.SYMBOLS:
            raise bad(
                "the watchlist is empty, so nothing would be collected in realtime; list at "
                "least one symbol (e.g. 005930), or unset it for the default watchlist"
            )
        raise bad("it must not be empty")
    if v.kind is Kind.PORT:
        try:
            port = int(text)
        except ValueError:
            raise bad(f"expected a port number, 1-{PORT_MAX}") from None
        if port == 0 and v.zero:
            return 0
        if not 1 <= port <= PORT_MAX:
            zero = f", or 0 for {v.zero}" if v.zero else ""
            raise bad(f"a port is 1-{PORT_MAX}{zero}")
        return port
    if v.kind is Kind.INT:
        try:
            n = int(text)
        except ValueError:
            raise bad("expected a whole number") from None
        if n < 0:
            raise bad("must not be negative")
        return n
    if v.kind is Kind.FLOAT:
        try:
            x = float(text)
        except ValueError:
            raise bad("expected a number") from None
        if not x >= 0:
            raise bad("must not be negative")
        return x
    if v.kind is Kind.BOOL:
        t = text.strip().lower()
        if t in ("1", "true", "yes", "on"):
            return True
        if t in ("0", "false", "no", "off", ""):
            return False
        raise bad("expected true or false")
    if v.kind is Kind.CHOICE:
        if text not in v.choices:
            allowed = ", ".join(c or '""' for c in v.choices)
            raise bad(f"expected one of {allowed}")
        return text
    if v.kind is Kind.SYMBOLS:
        try:
            items = [x for x in text.split(",") if x.strip()]
            return tuple(parse_symbols(items, limit=None, allow_empty=True))
        except SymbolError as e:
            raise bad(str(e)) from None
    if v.kind is Kind.TIME:
        if text and not _TIME.match(text):
            raise bad("expected HH:MM (24-hour, KST) or empty")
        return text
    return text


def load_config(
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> Loaded:
    """Resolve every setting: flags, then environment, then OBSERVER_ENV_FILE, then defaults.

    ``flags`` is keyed by variable name (the CLI maps ``--data-dir`` to OBSERVER_DATA_DIR).
    Relative paths are resolved against ``cwd`` (default: the working directory).
    """
    flags = dict(flags or {})
    env = dict(os.environ if environ is None else environ)
    base = cwd or Path.cwd()

    env_file_name = flags.get("OBSERVER_ENV_FILE") or env.get("OBSERVER_ENV_FILE", "")
    file_values: dict[str, str] = {}
    if env_file_name:
        p = Path(env_file_name)
        if not p.is_absolute():
            p = base / p
        try:
            file_values = parse_dotenv(p.read_text(encoding="utf-8"), where=str(p))
        except OSError as e:
            raise ConfigError(
                f"OBSERVER_ENV_FILE={env_file_name} cannot be read ({e.strerror}); "
                "point it at a readable dotenv file or unset it."
            ) from None

    raw: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    for v in ENV_TABLE:
        if v.name in flags:
            raw[v.name], origins[v.name] = flags[v.name], Origin("flag", v.flag or "")
        elif v.name in env:
            raw[v.name], origins[v.name] = env[v.name], Origin("env")
        elif v.name in file_values:
            raw[v.name], origins[v.name] = (
                file_values[v.name],
                Origin("env-file", str(env_file_name)),
            )
        else:
            raw[v.name], origins[v.name] = v.default, Origin("default")

    # Expand {VAR} references (defaults such as {OBSERVER_LOG_DIR}/system) in table order.
    for v in ENV_TABLE:
        raw[v.name] = _TEMPLATE.sub(lambda m: raw.get(m.group(1), ""), raw[v.name])

    values: dict[str, Any] = {}
    for v in ENV_TABLE:
        text = raw[v.name]
        if v.is_path and text and not Path(text).expanduser().is_absolute():
            text = str(base / text)
        if v.name == "OBSERVER_BACKUP_REPOSITORY" and is_local_repository(text):
            text = str((base / Path(text.removeprefix("local:")).expanduser()).absolute())
        values[v.attr] = _convert(v, text, origins[v.name])
    cfg = Config(**values)
    _cross_checks(cfg)
    unknown = unknown_names(env, "env") + [
        u for u in unknown_names(file_values, f"env-file {env_file_name}") if u.name not in env
    ]
    return Loaded(cfg, origins, raw, tuple(unknown))


#: restic backends that are not a local directory (the scheme before the first colon).
_REMOTE_BACKENDS = ("s3", "b2", "azure", "gs", "swift", "rest", "sftp", "rclone")


def is_local_repository(location: str) -> bool:
    """True when a restic repository location names a local directory."""
    scheme, sep, _ = location.partition(":")
    return not (sep and scheme in _REMOTE_BACKENDS)


def _cross_checks(cfg: Config) -> None:
    if bool(cfg.kis_app_key) != bool(cfg.kis_app_secret):
        missing = "KIS_APP_SECRET" if cfg.kis_app_key else "KIS_APP_KEY"
        raise ConfigError(
            f"{missing} is not set but its partner is: set both KIS_APP_KEY and KIS_APP_SECRET "
            "to collect from KIS, or neither to run on the built-in simulator."
        )
    if not cfg.uses_simulator and not cfg.kis_env and not (cfg.kis_rest_url and cfg.kis_ws_url):
        raise ConfigError(
            "KIS credentials are set but KIS_ENV is not: set KIS_ENV=real or KIS_ENV=paper "
            "so the daemon knows which KIS servers to use."
        )
    if cfg.app_env == "production" and cfg.uses_simulator:
        raise ConfigError(
            "APP_ENV=production but KIS_APP_KEY/KIS_APP_SECRET are unset: the daemon would "
            "record simulated ticks as production data. Provide the KIS secret or change APP_ENV."
        )
    if cfg.after_hours and cfg.market != "KRX":
        raise ConfigError(
            f"OBSERVER_AFTER_HOURS=true needs OBSERVER_MARKET=KRX (it is {cfg.market}): "
            "H0STOUP0 is KRX's after-hours single-price feed; NXT's hours are in its own TR."
        )
    per = 2 if cfg.after_hours else 1
    if len(cfg.symbols) * per > MAX_REGISTRATIONS:
        each = (
            f" and OBSERVER_AFTER_HOURS subscribes each twice (H0STCNT0 and H0STOUP0): "
            f"{len(cfg.symbols) * per} registrations"
            if per > 1
            else ""
        )
        raise ConfigError(
            f"OBSERVER_SYMBOLS lists {len(cfg.symbols)} symbols{each}; KIS allows at most "
            f"{MAX_REGISTRATIONS} realtime registrations per app key. Remove some"
            + (" or turn OBSERVER_AFTER_HOURS off." if per > 1 else ".")
        )


def display_value(v: Var, value: str, fingerprint: Callable[[str], str] | None = None) -> str:
    """A value fit to print: a secret becomes its presence and (given the installation's
    keyed ``fingerprint``, daemon/fingerprints.py) its fingerprint, never the value."""
    if v.secret:
        if not value:
            return "unset"
        return f"set (fingerprint {fingerprint(value)})" if fingerprint else "set"
    return value


def written_paths(cfg: Config) -> list[tuple[Var, Path]]:
    """Every path the daemon writes, with its table row (for the contract and doctor)."""
    return [(v, getattr(cfg, v.attr)) for v in ENV_TABLE if v.is_path and v.written]


def secrets_of(cfg: Config) -> list[tuple[Var, str]]:
    return [(v, getattr(cfg, v.attr)) for v in ENV_TABLE if v.secret]


def markdown_table() -> str:
    """The README's configuration table, generated from ENV_TABLE."""
    lines = [
        "| Variable | Default | Kind | Written | Secret | Description |",
        "|---|---|---|---|---|---|",
    ]
    for v in ENV_TABLE:
        default = f"`{v.default}`" if v.default else "(unset)"
        lines.append(
            f"| `{v.name}` | {default} | {v.kind_text} | {'yes' if v.written else ''} | "
            f"{'yes' if v.secret else ''} | {v.help.replace('|', '/')} |"
        )
    return "\n".join(lines)


def replace(cfg: Config, **changes: Any) -> Config:
    """A copy of ``cfg`` with some fields changed (tests and the composition root)."""
    return dataclasses.replace(cfg, **changes)
