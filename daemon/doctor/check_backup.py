"""Backup and capacity checks of a production collector: the backup repository must survive
the loss of the node (not unset, not on the data PVC, not on a node's disk), and the data
PVC must hold the retention policy's steady state at the design load.
"""

from __future__ import annotations

from datetime import date
from pathlib import PurePosixPath

from observer.daemon.config import LOCAL_RUNTIME, is_local_repository, var
from observer.daemon.doctor.check_runtime import mebibytes
from observer.daemon.doctor.check_storage import storage_at
from observer.daemon.doctor.context import Collector, Context, best_mount, normalize
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import dig, ref
from observer.daemon.doctor.render import Obj
from observer.daemon.status.capacity import (
    DESIGN_TICKS_PER_DAY,
    design_classes,
    design_peak,
    project,
    stage_copy_bytes,
)

REPOSITORY = "OBSERVER_BACKUP_REPOSITORY"
#: Storage classes that keep a volume on one node's disk (K3s' default, and its kin).
_NODE_LOCAL_CLASSES = (None, "", "local-path", "local-storage", "openebs-hostpath")
_OFF_NODE = (
    f"set {REPOSITORY} to an s3: repository off the node (OCI Object Storage's S3 endpoint "
    "s3:https://<namespace>.compat.objectstorage.<region>.oraclecloud.com/<bucket>/<prefix>, "
    "MinIO, SeaweedFS), with OBSERVER_REPO_PASSWORD, OBSERVER_S3_ACCESS_KEY and "
    "OBSERVER_S3_SECRET_KEY in Secret observer-backup"
)
_WHY = (
    "a dead node or disk takes the data and every snapshot of it at once, and retention "
    "deletes no raw file while no verified snapshot is off the data volume"
)


def _production(col: Collector) -> bool:
    return col.config is not None and col.config.app_env == "production"


def check_backup_repository(ctx: Context, col: Collector) -> list[Finding]:
    """HIGH in production when the backup repository does not survive the loss of the node:
    unset (the local default), on the data PVC, or a local directory on a node's disk."""
    if not _production(col) or col.config is None:
        return []
    location = col.config.backup_repository.strip()
    given = col.env.values.get(REPOSITORY)
    obj, at = col.where(REPOSITORY)
    if given is None or not given.value.strip():
        shown = location or f"{col.workdir}/{LOCAL_RUNTIME}/backup-repo"  # the code's default
        return [Finding(
            Severity.HIGH, obj, at,
            f"{REPOSITORY} is not set under APP_ENV=production: the daemon keeps its snapshots "
            f"in the local default {shown}, in the container: {_WHY}.",
            f"{_OFF_NODE} ({obj}, {at}).", REPOSITORY,
        )]  # fmt: skip
    if not is_local_repository(location):
        return []
    path = normalize(str(PurePosixPath(col.workdir) / location.removeprefix("local:")))
    mounts = list(col.container.get("volumeMounts") or [])
    here = storage_at(col.pod, mounts, path)
    same = _data_volume(col, mounts, path)
    if same:
        where = f"on {same}, the data volume it is meant to protect"
    elif here is not None and here.kind == "hostPath":
        where = f"on {here.describe()}, one node's directory"
    elif here is not None:
        pvc = ctx.pvcs.get(col.pod.namespace, here.name)
        sc = dig(pvc, "spec", "storageClassName") if pvc is not None else None
        if sc not in _NODE_LOCAL_CLASSES:
            return []  # a storage class doctor cannot judge (network, replicated)
        where = f"on {here.describe()} ({sc or 'local-path'}: the same node's disk as the data)"
    else:
        m = best_mount(mounts, path)
        vol = col.pod.volumes.get(str(m.get("name"))) if m is not None else None
        kind = next(iter(vol), "volume") if vol else "the container's own filesystem"
        where = f"on {kind} ({'lost with the pod' if vol else 'lost at every restart'})"
    return [Finding(
        Severity.HIGH, given.obj, given.at,
        f"{REPOSITORY}={location} is a local directory {where}: {_WHY}.",
        f"{_OFF_NODE} ({given.obj}, {given.at}).", REPOSITORY,
    )]  # fmt: skip


def _data_volume(col: Collector, mounts: list[Obj], path: str) -> str:
    """How the data volume is named when ``path`` is on it (the same claim, or the same
    volume of the pod, a StatefulSet's claim template included); "" otherwise."""
    data_dir = col.paths.get("OBSERVER_DATA_DIR", "")
    here, data = storage_at(col.pod, mounts, path), storage_at(col.pod, mounts, data_dir)
    if here is not None and data is not None and (here.kind, here.name) == (data.kind, data.name):
        return data.describe()
    m_here, m_data = best_mount(mounts, path), best_mount(mounts, data_dir)
    if m_here is not None and m_data is not None and m_here.get("name") == m_data.get("name"):
        return f"volume {m_data.get('name')}"
    return ""


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_retention_capacity(ctx: Context, col: Collector) -> list[Finding]:
    """HIGH in production when the data PVC cannot hold the retention policy's steady state
    at the design load (2 million ticks a trading day); WARNING above 70 % of it."""
    cfg = col.config
    if not _production(col) or cfg is None:
        return []
    mounts = list(col.container.get("volumeMounts") or [])
    data_dir = col.paths.get("OBSERVER_DATA_DIR", "")
    m = best_mount(mounts, data_dir)
    templates = col.pod.claim_templates()
    if m is not None and str(m.get("name")) in templates:
        vname = str(m.get("name"))
        spec, obj, claim = dig(templates[vname], "spec") or {}, col.obj, vname
        field = f"spec.volumeClaimTemplates[{vname}].spec.resources.requests.storage"
    else:
        data = storage_at(col.pod, mounts, data_dir)
        pvc = ctx.pvcs.get(col.pod.namespace, data.name) if data and data.kind == "claim" else None
        if data is None or pvc is None:
            return []  # no claim, or one check_volumes reports as not defined
        spec, obj, claim = dig(pvc, "spec") or {}, ref(pvc), data.name
        field = "spec.resources.requests.storage"
    size = dig(spec, "resources", "requests", "storage")
    mib = mebibytes(size) if size is not None else None
    if mib is None:
        return []
    capacity = mib * 2**20
    reserve = cfg.min_free_mb * 2**20
    load = f"{DESIGN_TICKS_PER_DAY:,} ticks a trading day"
    policy = (f"OBSERVER_RETAIN_RAW_DAYS={cfg.retain_raw_days}, "
              f"OBSERVER_RETAIN_DATASET_DAYS={cfg.retain_dataset_days}")  # fmt: skip
    peak = design_peak(cfg)
    if peak is None:
        classes = design_classes(cfg)
        transient = stage_copy_bytes(classes[0].per_day)
        p = project(int(capacity), 0, reserve, classes, date.today(), transient=transient)
        days = f"in {p.days_until_full:.0f} days" if p.days_until_full else "in time"
        forever = [n for n, d in (("OBSERVER_RETAIN_RAW_DAYS", cfg.retain_raw_days),
                                  ("OBSERVER_RETAIN_DATASET_DAYS", cfg.retain_dataset_days)) if d <= 0]  # fmt: skip
        return [Finding(
            Severity.HIGH, obj, field,
            f"{' and '.join(f'{n}=0' for n in forever)} keeps files forever: at {load} the "
            f"{size} claim {claim} fills {days}, whatever its size, and then the collector "
            "stops being ready and ticks are lost.",
            f"set {' and '.join(forever)} in ConfigMap observer-config to a number of days "
            f"(the defaults: raw files {var('OBSERVER_RETAIN_RAW_DAYS').default}, Parquet "
            f"{var('OBSERVER_RETAIN_DATASET_DAYS').default}; the repository's snapshots keep "
            "the older files).",
            forever[0],
        )]  # fmt: skip
    need = peak + reserve
    target = peak / 0.7
    if need > capacity:
        return [Finding(
            Severity.HIGH, obj, field,
            f"claim {claim} asks for {size} but the retention policy ({policy}) keeps "
            f"{_gib(peak)} on the data volume at its steady state at {load}: it fills before "
            "retention catches up, the collector stops being ready and ticks are lost.",
            f"raise {field} of claim {claim} to {_ceil_gi(target)}Gi or more (the steady state "
            f"below 70 %), or lower OBSERVER_RETAIN_DATASET_DAYS / OBSERVER_RETAIN_RAW_DAYS.",
        )]  # fmt: skip
    if peak > 0.7 * capacity:
        return [Finding(
            Severity.WARNING, obj, field,
            f"claim {claim} ({size}) holds the retention policy's steady state at {load} "
            f"({_gib(peak)}) with {peak / capacity:.0%} used: little room for a busier day.",
            f"raise {field} of claim {claim} to {_ceil_gi(target)}Gi, or lower "
            "OBSERVER_RETAIN_DATASET_DAYS.",
        )]  # fmt: skip
    return []


def _ceil_gi(n: float) -> int:
    return int(-(-n // 2**30))
