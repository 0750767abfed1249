import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_SIMULATOR: _ClassVar[Source]
    SOURCE_KIS_REAL: _ClassVar[Source]
    SOURCE_KIS_PAPER: _ClassVar[Source]
    SOURCE_KIS_CUSTOM: _ClassVar[Source]

class CollectorState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLLECTOR_STATE_UNSPECIFIED: _ClassVar[CollectorState]
    COLLECTOR_STATE_STARTING: _ClassVar[CollectorState]
    COLLECTOR_STATE_RUNNING: _ClassVar[CollectorState]
    COLLECTOR_STATE_RECONNECTING: _ClassVar[CollectorState]
    COLLECTOR_STATE_STOPPING: _ClassVar[CollectorState]
    COLLECTOR_STATE_STOPPED: _ClassVar[CollectorState]
    COLLECTOR_STATE_FAILED: _ClassVar[CollectorState]

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_DISCONNECTED: _ClassVar[SessionState]
    SESSION_STATE_CONNECTING: _ClassVar[SessionState]
    SESSION_STATE_CONNECTED: _ClassVar[SessionState]
    SESSION_STATE_BACKOFF: _ClassVar[SessionState]
    SESSION_STATE_APPKEY_IN_USE: _ClassVar[SessionState]

class Track(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_UNSPECIFIED: _ClassVar[Track]
    TRACK_SCALP: _ClassVar[Track]
    TRACK_SWING: _ClassVar[Track]

class VolumeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_KIND_UNSPECIFIED: _ClassVar[VolumeKind]
    VOLUME_KIND_PERSISTENT_VOLUME: _ClassVar[VolumeKind]
    VOLUME_KIND_CONTAINER_ROOT_FS: _ClassVar[VolumeKind]
    VOLUME_KIND_LOCAL_DISK: _ClassVar[VolumeKind]
    VOLUME_KIND_TMPFS: _ClassVar[VolumeKind]
    VOLUME_KIND_EPHEMERAL: _ClassVar[VolumeKind]
    VOLUME_KIND_NETWORK: _ClassVar[VolumeKind]

class SinkState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SINK_STATE_UNSPECIFIED: _ClassVar[SinkState]
    SINK_STATE_OK: _ClassVar[SinkState]
    SINK_STATE_DEGRADED: _ClassVar[SinkState]
    SINK_STATE_DISABLED: _ClassVar[SinkState]
    SINK_STATE_FAILED: _ClassVar[SinkState]

class BackupResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKUP_RESULT_UNSPECIFIED: _ClassVar[BackupResult]
    BACKUP_RESULT_NONE: _ClassVar[BackupResult]
    BACKUP_RESULT_OK: _ClassVar[BackupResult]
    BACKUP_RESULT_FAILED: _ClassVar[BackupResult]
    BACKUP_RESULT_RUNNING: _ClassVar[BackupResult]

class VerificationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_STATE_UNSPECIFIED: _ClassVar[VerificationState]
    VERIFICATION_STATE_UNVERIFIED: _ClassVar[VerificationState]
    VERIFICATION_STATE_VERIFIED: _ClassVar[VerificationState]
    VERIFICATION_STATE_FAILED: _ClassVar[VerificationState]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]

class BackupPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKUP_PHASE_UNSPECIFIED: _ClassVar[BackupPhase]
    BACKUP_PHASE_SCANNING: _ClassVar[BackupPhase]
    BACKUP_PHASE_ARCHIVING: _ClassVar[BackupPhase]
    BACKUP_PHASE_FINALIZING: _ClassVar[BackupPhase]
    BACKUP_PHASE_DONE: _ClassVar[BackupPhase]
    BACKUP_PHASE_VERIFYING: _ClassVar[BackupPhase]

class RetentionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETENTION_ACTION_UNSPECIFIED: _ClassVar[RetentionAction]
    RETENTION_ACTION_DELETED: _ClassVar[RetentionAction]
    RETENTION_ACTION_WOULD_DELETE: _ClassVar[RetentionAction]
    RETENTION_ACTION_KEPT: _ClassVar[RetentionAction]
SOURCE_UNSPECIFIED: Source
SOURCE_SIMULATOR: Source
SOURCE_KIS_REAL: Source
SOURCE_KIS_PAPER: Source
SOURCE_KIS_CUSTOM: Source
COLLECTOR_STATE_UNSPECIFIED: CollectorState
COLLECTOR_STATE_STARTING: CollectorState
COLLECTOR_STATE_RUNNING: CollectorState
COLLECTOR_STATE_RECONNECTING: CollectorState
COLLECTOR_STATE_STOPPING: CollectorState
COLLECTOR_STATE_STOPPED: CollectorState
COLLECTOR_STATE_FAILED: CollectorState
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_DISCONNECTED: SessionState
SESSION_STATE_CONNECTING: SessionState
SESSION_STATE_CONNECTED: SessionState
SESSION_STATE_BACKOFF: SessionState
SESSION_STATE_APPKEY_IN_USE: SessionState
TRACK_UNSPECIFIED: Track
TRACK_SCALP: Track
TRACK_SWING: Track
VOLUME_KIND_UNSPECIFIED: VolumeKind
VOLUME_KIND_PERSISTENT_VOLUME: VolumeKind
VOLUME_KIND_CONTAINER_ROOT_FS: VolumeKind
VOLUME_KIND_LOCAL_DISK: VolumeKind
VOLUME_KIND_TMPFS: VolumeKind
VOLUME_KIND_EPHEMERAL: VolumeKind
VOLUME_KIND_NETWORK: VolumeKind
SINK_STATE_UNSPECIFIED: SinkState
SINK_STATE_OK: SinkState
SINK_STATE_DEGRADED: SinkState
SINK_STATE_DISABLED: SinkState
SINK_STATE_FAILED: SinkState
BACKUP_RESULT_UNSPECIFIED: BackupResult
BACKUP_RESULT_NONE: BackupResult
BACKUP_RESULT_OK: BackupResult
BACKUP_RESULT_FAILED: BackupResult
BACKUP_RESULT_RUNNING: BackupResult
VERIFICATION_STATE_UNSPECIFIED: VerificationState
VERIFICATION_STATE_UNVERIFIED: VerificationState
VERIFICATION_STATE_VERIFIED: VerificationState
VERIFICATION_STATE_FAILED: VerificationState
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity
BACKUP_PHASE_UNSPECIFIED: BackupPhase
BACKUP_PHASE_SCANNING: BackupPhase
BACKUP_PHASE_ARCHIVING: BackupPhase
BACKUP_PHASE_FINALIZING: BackupPhase
BACKUP_PHASE_DONE: BackupPhase
BACKUP_PHASE_VERIFYING: BackupPhase
RETENTION_ACTION_UNSPECIFIED: RetentionAction
RETENTION_ACTION_DELETED: RetentionAction
RETENTION_ACTION_WOULD_DELETE: RetentionAction
RETENTION_ACTION_KEPT: RetentionAction

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchStatusRequest(_message.Message):
    __slots__ = ("min_interval_ms", "heartbeat_ms")
    MIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_MS_FIELD_NUMBER: _ClassVar[int]
    min_interval_ms: int
    heartbeat_ms: int
    def __init__(self, min_interval_ms: _Optional[int] = ..., heartbeat_ms: _Optional[int] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("generated_at", "daemon_version", "app_env", "started_at", "uptime_seconds", "source", "source_detail", "host", "pid", "collector", "volumes", "streams", "secrets", "backups", "warnings", "health", "tail", "recovery", "gaps_today", "degraded")
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    DAEMON_VERSION_FIELD_NUMBER: _ClassVar[int]
    APP_ENV_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    COLLECTOR_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_FIELD_NUMBER: _ClassVar[int]
    GAPS_TODAY_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    generated_at: _timestamp_pb2.Timestamp
    daemon_version: str
    app_env: str
    started_at: _timestamp_pb2.Timestamp
    uptime_seconds: float
    source: Source
    source_detail: str
    host: str
    pid: int
    collector: Collector
    volumes: _containers.RepeatedCompositeFieldContainer[Volume]
    streams: _containers.RepeatedCompositeFieldContainer[Stream]
    secrets: _containers.RepeatedCompositeFieldContainer[SecretStatus]
    backups: BackupStatus
    warnings: _containers.RepeatedCompositeFieldContainer[ContractWarning]
    health: _containers.RepeatedCompositeFieldContainer[ProbeHealth]
    tail: TailStats
    recovery: _containers.RepeatedCompositeFieldContainer[RecoveryReport]
    gaps_today: _containers.RepeatedCompositeFieldContainer[Gap]
    degraded: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., daemon_version: _Optional[str] = ..., app_env: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uptime_seconds: _Optional[float] = ..., source: _Optional[_Union[Source, str]] = ..., source_detail: _Optional[str] = ..., host: _Optional[str] = ..., pid: _Optional[int] = ..., collector: _Optional[_Union[Collector, _Mapping]] = ..., volumes: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., streams: _Optional[_Iterable[_Union[Stream, _Mapping]]] = ..., secrets: _Optional[_Iterable[_Union[SecretStatus, _Mapping]]] = ..., backups: _Optional[_Union[BackupStatus, _Mapping]] = ..., warnings: _Optional[_Iterable[_Union[ContractWarning, _Mapping]]] = ..., health: _Optional[_Iterable[_Union[ProbeHealth, _Mapping]]] = ..., tail: _Optional[_Union[TailStats, _Mapping]] = ..., recovery: _Optional[_Iterable[_Union[RecoveryReport, _Mapping]]] = ..., gaps_today: _Optional[_Iterable[_Union[Gap, _Mapping]]] = ..., degraded: _Optional[_Iterable[str]] = ...) -> None: ...

class Collector(_message.Message):
    __slots__ = ("state", "last_error", "session", "subscriptions", "failed_subscriptions", "rates", "malformed_frames", "market", "market_open", "market_hours")
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    FAILED_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MARKET_FIELD_NUMBER: _ClassVar[int]
    MARKET_OPEN_FIELD_NUMBER: _ClassVar[int]
    MARKET_HOURS_FIELD_NUMBER: _ClassVar[int]
    state: CollectorState
    last_error: str
    session: KisSession
    subscriptions: _containers.RepeatedScalarFieldContainer[str]
    failed_subscriptions: _containers.RepeatedCompositeFieldContainer[SubscriptionFailure]
    rates: _containers.RepeatedCompositeFieldContainer[TrackRate]
    malformed_frames: int
    market: str
    market_open: bool
    market_hours: str
    def __init__(self, state: _Optional[_Union[CollectorState, str]] = ..., last_error: _Optional[str] = ..., session: _Optional[_Union[KisSession, _Mapping]] = ..., subscriptions: _Optional[_Iterable[str]] = ..., failed_subscriptions: _Optional[_Iterable[_Union[SubscriptionFailure, _Mapping]]] = ..., rates: _Optional[_Iterable[_Union[TrackRate, _Mapping]]] = ..., malformed_frames: _Optional[int] = ..., market: _Optional[str] = ..., market_open: _Optional[bool] = ..., market_hours: _Optional[str] = ...) -> None: ...

class KisSession(_message.Message):
    __slots__ = ("state", "url", "connected_since", "reconnects", "last_frame_at", "next_attempt_at", "last_error")
    STATE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_SINCE_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    state: SessionState
    url: str
    connected_since: _timestamp_pb2.Timestamp
    reconnects: int
    last_frame_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    last_error: str
    def __init__(self, state: _Optional[_Union[SessionState, str]] = ..., url: _Optional[str] = ..., connected_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reconnects: _Optional[int] = ..., last_frame_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ...) -> None: ...

class SubscriptionFailure(_message.Message):
    __slots__ = ("symbol", "code", "message")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    code: str
    message: str
    def __init__(self, symbol: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TrackRate(_message.Message):
    __slots__ = ("track", "rate_1s", "rate_1m", "total", "today", "last_at")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    RATE_1S_FIELD_NUMBER: _ClassVar[int]
    RATE_1M_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    LAST_AT_FIELD_NUMBER: _ClassVar[int]
    track: Track
    rate_1s: float
    rate_1m: float
    total: int
    today: int
    last_at: _timestamp_pb2.Timestamp
    def __init__(self, track: _Optional[_Union[Track, str]] = ..., rate_1s: _Optional[float] = ..., rate_1m: _Optional[float] = ..., total: _Optional[int] = ..., today: _Optional[int] = ..., last_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("mount_point", "paths", "variables", "kind", "kind_reason", "fs_type", "capacity_bytes", "used_bytes", "free_bytes", "inodes_total", "inodes_free", "growth_bytes_per_second", "seconds_until_full", "writable", "nearly_full", "observer_bytes", "observer_growth_bytes_per_second", "observer_bytes_per_trading_day", "projected_days_until_full", "projected_peak_bytes", "projection")
    MOUNT_POINT_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KIND_REASON_FIELD_NUMBER: _ClassVar[int]
    FS_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    INODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    INODES_FREE_FIELD_NUMBER: _ClassVar[int]
    GROWTH_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    SECONDS_UNTIL_FULL_FIELD_NUMBER: _ClassVar[int]
    WRITABLE_FIELD_NUMBER: _ClassVar[int]
    NEARLY_FULL_FIELD_NUMBER: _ClassVar[int]
    OBSERVER_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBSERVER_GROWTH_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    OBSERVER_BYTES_PER_TRADING_DAY_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_DAYS_UNTIL_FULL_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    mount_point: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    variables: _containers.RepeatedScalarFieldContainer[str]
    kind: VolumeKind
    kind_reason: str
    fs_type: str
    capacity_bytes: int
    used_bytes: int
    free_bytes: int
    inodes_total: int
    inodes_free: int
    growth_bytes_per_second: float
    seconds_until_full: float
    writable: bool
    nearly_full: bool
    observer_bytes: int
    observer_growth_bytes_per_second: float
    observer_bytes_per_trading_day: float
    projected_days_until_full: float
    projected_peak_bytes: int
    projection: str
    def __init__(self, mount_point: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., variables: _Optional[_Iterable[str]] = ..., kind: _Optional[_Union[VolumeKind, str]] = ..., kind_reason: _Optional[str] = ..., fs_type: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., inodes_total: _Optional[int] = ..., inodes_free: _Optional[int] = ..., growth_bytes_per_second: _Optional[float] = ..., seconds_until_full: _Optional[float] = ..., writable: _Optional[bool] = ..., nearly_full: _Optional[bool] = ..., observer_bytes: _Optional[int] = ..., observer_growth_bytes_per_second: _Optional[float] = ..., observer_bytes_per_trading_day: _Optional[float] = ..., projected_days_until_full: _Optional[float] = ..., projected_peak_bytes: _Optional[int] = ..., projection: _Optional[str] = ...) -> None: ...

class Stream(_message.Message):
    __slots__ = ("name", "track", "current_file", "lines", "bytes", "opened_at", "next_rotation_at", "last_closed_file", "pending", "last_fsync_at", "last_error", "sinks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FILE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ROTATION_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_CLOSED_FILE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAST_FSYNC_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SINKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    track: Track
    current_file: str
    lines: int
    bytes: int
    opened_at: _timestamp_pb2.Timestamp
    next_rotation_at: _timestamp_pb2.Timestamp
    last_closed_file: str
    pending: int
    last_fsync_at: _timestamp_pb2.Timestamp
    last_error: str
    sinks: _containers.RepeatedCompositeFieldContainer[SinkLag]
    def __init__(self, name: _Optional[str] = ..., track: _Optional[_Union[Track, str]] = ..., current_file: _Optional[str] = ..., lines: _Optional[int] = ..., bytes: _Optional[int] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_rotation_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_closed_file: _Optional[str] = ..., pending: _Optional[int] = ..., last_fsync_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., sinks: _Optional[_Iterable[_Union[SinkLag, _Mapping]]] = ...) -> None: ...

class SinkLag(_message.Message):
    __slots__ = ("name", "state", "lag_rows", "lag_seconds", "checkpoint_file", "checkpoint_offset", "last_error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAG_ROWS_FIELD_NUMBER: _ClassVar[int]
    LAG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FILE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: SinkState
    lag_rows: int
    lag_seconds: float
    checkpoint_file: str
    checkpoint_offset: int
    last_error: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[SinkState, str]] = ..., lag_rows: _Optional[int] = ..., lag_seconds: _Optional[float] = ..., checkpoint_file: _Optional[str] = ..., checkpoint_offset: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class SecretStatus(_message.Message):
    __slots__ = ("name", "present", "source", "fingerprint", "age_seconds", "expires_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    present: bool
    source: str
    fingerprint: str
    age_seconds: float
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., present: _Optional[bool] = ..., source: _Optional[str] = ..., fingerprint: _Optional[str] = ..., age_seconds: _Optional[float] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BackupStatus(_message.Message):
    __slots__ = ("last_result", "last_id", "last_error", "last_success_at", "last_duration_seconds", "next_scheduled_at", "count", "total_bytes", "verification", "last_verified_at", "retain_days", "contents", "repository", "off_volume", "newest_snapshot", "newest_snapshot_at", "rpo_seconds", "rpo_bound_seconds", "rpo_over_bound", "repository_bytes", "repository_measured_at", "snapshots", "last_verified_snapshot", "last_drill_at", "last_drill_ok", "next_retry_at", "next_snapshot_at", "legacy_archives")
    LAST_RESULT_FIELD_NUMBER: _ClassVar[int]
    LAST_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    LAST_VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    RETAIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    OFF_VOLUME_FIELD_NUMBER: _ClassVar[int]
    NEWEST_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NEWEST_SNAPSHOT_AT_FIELD_NUMBER: _ClassVar[int]
    RPO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RPO_BOUND_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RPO_OVER_BOUND_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    LAST_VERIFIED_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    LAST_DRILL_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_DRILL_OK_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_SNAPSHOT_AT_FIELD_NUMBER: _ClassVar[int]
    LEGACY_ARCHIVES_FIELD_NUMBER: _ClassVar[int]
    last_result: BackupResult
    last_id: str
    last_error: str
    last_success_at: _timestamp_pb2.Timestamp
    last_duration_seconds: float
    next_scheduled_at: _timestamp_pb2.Timestamp
    count: int
    total_bytes: int
    verification: VerificationState
    last_verified_at: _timestamp_pb2.Timestamp
    retain_days: int
    contents: str
    repository: str
    off_volume: bool
    newest_snapshot: str
    newest_snapshot_at: _timestamp_pb2.Timestamp
    rpo_seconds: float
    rpo_bound_seconds: float
    rpo_over_bound: bool
    repository_bytes: int
    repository_measured_at: _timestamp_pb2.Timestamp
    snapshots: int
    last_verified_snapshot: str
    last_drill_at: _timestamp_pb2.Timestamp
    last_drill_ok: bool
    next_retry_at: _timestamp_pb2.Timestamp
    next_snapshot_at: _timestamp_pb2.Timestamp
    legacy_archives: int
    def __init__(self, last_result: _Optional[_Union[BackupResult, str]] = ..., last_id: _Optional[str] = ..., last_error: _Optional[str] = ..., last_success_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_duration_seconds: _Optional[float] = ..., next_scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., count: _Optional[int] = ..., total_bytes: _Optional[int] = ..., verification: _Optional[_Union[VerificationState, str]] = ..., last_verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retain_days: _Optional[int] = ..., contents: _Optional[str] = ..., repository: _Optional[str] = ..., off_volume: _Optional[bool] = ..., newest_snapshot: _Optional[str] = ..., newest_snapshot_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rpo_seconds: _Optional[float] = ..., rpo_bound_seconds: _Optional[float] = ..., rpo_over_bound: _Optional[bool] = ..., repository_bytes: _Optional[int] = ..., repository_measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshots: _Optional[int] = ..., last_verified_snapshot: _Optional[str] = ..., last_drill_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_drill_ok: _Optional[bool] = ..., next_retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_snapshot_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., legacy_archives: _Optional[int] = ...) -> None: ...

class ContractWarning(_message.Message):
    __slots__ = ("severity", "variable", "path", "message", "fix")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    variable: str
    path: str
    message: str
    fix: str
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., variable: _Optional[str] = ..., path: _Optional[str] = ..., message: _Optional[str] = ..., fix: _Optional[str] = ...) -> None: ...

class ProbeHealth(_message.Message):
    __slots__ = ("service", "serving", "reason")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    service: str
    serving: bool
    reason: str
    def __init__(self, service: _Optional[str] = ..., serving: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class TailStats(_message.Message):
    __slots__ = ("subscribers", "dropped_total")
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    subscribers: int
    dropped_total: int
    def __init__(self, subscribers: _Optional[int] = ..., dropped_total: _Optional[int] = ...) -> None: ...

class RecoveryReport(_message.Message):
    __slots__ = ("path", "action", "detail", "bytes", "at")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    path: str
    action: str
    detail: str
    bytes: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, path: _Optional[str] = ..., action: _Optional[str] = ..., detail: _Optional[str] = ..., bytes: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("start", "end", "duration_seconds", "symbols", "reason")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    duration_seconds: float
    symbols: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_seconds: _Optional[float] = ..., symbols: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class TailRequest(_message.Message):
    __slots__ = ("symbols", "tracks", "replay_last", "max_batch")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_LAST_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    tracks: _containers.RepeatedScalarFieldContainer[Track]
    replay_last: int
    max_batch: int
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., tracks: _Optional[_Iterable[_Union[Track, str]]] = ..., replay_last: _Optional[int] = ..., max_batch: _Optional[int] = ...) -> None: ...

class TickBatch(_message.Message):
    __slots__ = ("ticks", "dropped_since_last", "dropped_total", "replay", "sent_at")
    TICKS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_SINCE_LAST_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ticks: _containers.RepeatedCompositeFieldContainer[Tick]
    dropped_since_last: int
    dropped_total: int
    replay: bool
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, ticks: _Optional[_Iterable[_Union[Tick, _Mapping]]] = ..., dropped_since_last: _Optional[int] = ..., dropped_total: _Optional[int] = ..., replay: _Optional[bool] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ("seq", "track", "symbol", "trade_date", "ts", "price", "sign", "change", "change_pct", "volume", "cum_volume", "cum_value", "open", "high", "low", "ask1", "bid1", "strength", "vwap", "side", "halted", "received_at", "swing", "market_op", "hour_code", "random_end", "vi_price", "market_class", "session")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIGN_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PCT_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    CUM_VOLUME_FIELD_NUMBER: _ClassVar[int]
    CUM_VALUE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    ASK1_FIELD_NUMBER: _ClassVar[int]
    BID1_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    VWAP_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    HALTED_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    SWING_FIELD_NUMBER: _ClassVar[int]
    MARKET_OP_FIELD_NUMBER: _ClassVar[int]
    HOUR_CODE_FIELD_NUMBER: _ClassVar[int]
    RANDOM_END_FIELD_NUMBER: _ClassVar[int]
    VI_PRICE_FIELD_NUMBER: _ClassVar[int]
    MARKET_CLASS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    seq: int
    track: Track
    symbol: str
    trade_date: str
    ts: str
    price: int
    sign: int
    change: int
    change_pct: float
    volume: int
    cum_volume: int
    cum_value: int
    open: int
    high: int
    low: int
    ask1: int
    bid1: int
    strength: float
    vwap: float
    side: int
    halted: bool
    received_at: _timestamp_pb2.Timestamp
    swing: SwingFields
    market_op: str
    hour_code: str
    random_end: str
    vi_price: int
    market_class: str
    session: str
    def __init__(self, seq: _Optional[int] = ..., track: _Optional[_Union[Track, str]] = ..., symbol: _Optional[str] = ..., trade_date: _Optional[str] = ..., ts: _Optional[str] = ..., price: _Optional[int] = ..., sign: _Optional[int] = ..., change: _Optional[int] = ..., change_pct: _Optional[float] = ..., volume: _Optional[int] = ..., cum_volume: _Optional[int] = ..., cum_value: _Optional[int] = ..., open: _Optional[int] = ..., high: _Optional[int] = ..., low: _Optional[int] = ..., ask1: _Optional[int] = ..., bid1: _Optional[int] = ..., strength: _Optional[float] = ..., vwap: _Optional[float] = ..., side: _Optional[int] = ..., halted: _Optional[bool] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., swing: _Optional[_Union[SwingFields, _Mapping]] = ..., market_op: _Optional[str] = ..., hour_code: _Optional[str] = ..., random_end: _Optional[str] = ..., vi_price: _Optional[int] = ..., market_class: _Optional[str] = ..., session: _Optional[str] = ...) -> None: ...

class SwingFields(_message.Message):
    __slots__ = ("upper_limit", "lower_limit", "per", "pbr", "eps", "bps", "w52_high", "w52_low", "market_cap", "vi")
    UPPER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LOWER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PER_FIELD_NUMBER: _ClassVar[int]
    PBR_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    BPS_FIELD_NUMBER: _ClassVar[int]
    W52_HIGH_FIELD_NUMBER: _ClassVar[int]
    W52_LOW_FIELD_NUMBER: _ClassVar[int]
    MARKET_CAP_FIELD_NUMBER: _ClassVar[int]
    VI_FIELD_NUMBER: _ClassVar[int]
    upper_limit: int
    lower_limit: int
    per: float
    pbr: float
    eps: float
    bps: float
    w52_high: int
    w52_low: int
    market_cap: int
    vi: str
    def __init__(self, upper_limit: _Optional[int] = ..., lower_limit: _Optional[int] = ..., per: _Optional[float] = ..., pbr: _Optional[float] = ..., eps: _Optional[float] = ..., bps: _Optional[float] = ..., w52_high: _Optional[int] = ..., w52_low: _Optional[int] = ..., market_cap: _Optional[int] = ..., vi: _Optional[str] = ...) -> None: ...

class TriggerBackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackupProgress(_message.Message):
    __slots__ = ("phase", "files_done", "files_total", "bytes_done", "bytes_total", "current_file", "manifest", "percent")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FILES_DONE_FIELD_NUMBER: _ClassVar[int]
    FILES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FILE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    phase: BackupPhase
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    current_file: str
    manifest: BackupManifest
    percent: float
    def __init__(self, phase: _Optional[_Union[BackupPhase, str]] = ..., files_done: _Optional[int] = ..., files_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., current_file: _Optional[str] = ..., manifest: _Optional[_Union[BackupManifest, _Mapping]] = ..., percent: _Optional[float] = ...) -> None: ...

class BackupFile(_message.Message):
    __slots__ = ("path", "bytes", "sha256", "records", "first_ts", "last_ts")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    path: str
    bytes: int
    sha256: str
    records: int
    first_ts: str
    last_ts: str
    def __init__(self, path: _Optional[str] = ..., bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., records: _Optional[int] = ..., first_ts: _Optional[str] = ..., last_ts: _Optional[str] = ...) -> None: ...

class BackupManifest(_message.Message):
    __slots__ = ("id", "created_at", "daemon_version", "archive", "archive_bytes", "archive_sha256", "files", "duration_seconds", "verification", "verified_at", "snapshot_id", "repository", "manifest_sha256", "data_added", "total_file_bytes")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DAEMON_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_SHA256_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: _timestamp_pb2.Timestamp
    daemon_version: str
    archive: str
    archive_bytes: int
    archive_sha256: str
    files: _containers.RepeatedCompositeFieldContainer[BackupFile]
    duration_seconds: float
    verification: VerificationState
    verified_at: _timestamp_pb2.Timestamp
    snapshot_id: str
    repository: str
    manifest_sha256: str
    data_added: int
    total_file_bytes: int
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., daemon_version: _Optional[str] = ..., archive: _Optional[str] = ..., archive_bytes: _Optional[int] = ..., archive_sha256: _Optional[str] = ..., files: _Optional[_Iterable[_Union[BackupFile, _Mapping]]] = ..., duration_seconds: _Optional[float] = ..., verification: _Optional[_Union[VerificationState, str]] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot_id: _Optional[str] = ..., repository: _Optional[str] = ..., manifest_sha256: _Optional[str] = ..., data_added: _Optional[int] = ..., total_file_bytes: _Optional[int] = ...) -> None: ...

class ListBackupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBackupsResponse(_message.Message):
    __slots__ = ("backups",)
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    backups: _containers.RepeatedCompositeFieldContainer[BackupManifest]
    def __init__(self, backups: _Optional[_Iterable[_Union[BackupManifest, _Mapping]]] = ...) -> None: ...

class VerifyBackupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Mismatch(_message.Message):
    __slots__ = ("path", "reason", "expected_sha256", "actual_sha256", "expected_bytes", "actual_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHA256_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    reason: str
    expected_sha256: str
    actual_sha256: str
    expected_bytes: int
    actual_bytes: int
    def __init__(self, path: _Optional[str] = ..., reason: _Optional[str] = ..., expected_sha256: _Optional[str] = ..., actual_sha256: _Optional[str] = ..., expected_bytes: _Optional[int] = ..., actual_bytes: _Optional[int] = ...) -> None: ...

class VerifyBackupResponse(_message.Message):
    __slots__ = ("id", "ok", "mismatches", "verified_at", "files_checked", "bytes_checked")
    ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    FILES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    id: str
    ok: bool
    mismatches: _containers.RepeatedCompositeFieldContainer[Mismatch]
    verified_at: _timestamp_pb2.Timestamp
    files_checked: int
    bytes_checked: int
    def __init__(self, id: _Optional[str] = ..., ok: _Optional[bool] = ..., mismatches: _Optional[_Iterable[_Union[Mismatch, _Mapping]]] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files_checked: _Optional[int] = ..., bytes_checked: _Optional[int] = ...) -> None: ...

class RotateNowRequest(_message.Message):
    __slots__ = ("track",)
    TRACK_FIELD_NUMBER: _ClassVar[int]
    track: Track
    def __init__(self, track: _Optional[_Union[Track, str]] = ...) -> None: ...

class ClosedSegment(_message.Message):
    __slots__ = ("track", "path", "lines", "bytes")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    track: Track
    path: str
    lines: int
    bytes: int
    def __init__(self, track: _Optional[_Union[Track, str]] = ..., path: _Optional[str] = ..., lines: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class RotateNowResponse(_message.Message):
    __slots__ = ("closed",)
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    closed: _containers.RepeatedCompositeFieldContainer[ClosedSegment]
    def __init__(self, closed: _Optional[_Iterable[_Union[ClosedSegment, _Mapping]]] = ...) -> None: ...

class SetSubscriptionsRequest(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class SetSubscriptionsResponse(_message.Message):
    __slots__ = ("subscribed", "added", "removed", "failed")
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    subscribed: _containers.RepeatedScalarFieldContainer[str]
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    failed: _containers.RepeatedCompositeFieldContainer[SubscriptionFailure]
    def __init__(self, subscribed: _Optional[_Iterable[str]] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., failed: _Optional[_Iterable[_Union[SubscriptionFailure, _Mapping]]] = ...) -> None: ...

class RunRetentionRequest(_message.Message):
    __slots__ = ("apply",)
    APPLY_FIELD_NUMBER: _ClassVar[int]
    apply: bool
    def __init__(self, apply: _Optional[bool] = ...) -> None: ...

class RetentionItem(_message.Message):
    __slots__ = ("path", "category", "action", "reason", "bytes", "age_days")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    path: str
    category: str
    action: RetentionAction
    reason: str
    bytes: int
    age_days: float
    def __init__(self, path: _Optional[str] = ..., category: _Optional[str] = ..., action: _Optional[_Union[RetentionAction, str]] = ..., reason: _Optional[str] = ..., bytes: _Optional[int] = ..., age_days: _Optional[float] = ...) -> None: ...

class RetentionReport(_message.Message):
    __slots__ = ("dry_run", "items", "bytes_freed", "ran_at")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    RAN_AT_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    items: _containers.RepeatedCompositeFieldContainer[RetentionItem]
    bytes_freed: int
    ran_at: _timestamp_pb2.Timestamp
    def __init__(self, dry_run: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[RetentionItem, _Mapping]]] = ..., bytes_freed: _Optional[int] = ..., ran_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
