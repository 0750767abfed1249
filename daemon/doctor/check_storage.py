"""Volume checks: where every written path lands, PVCs referenced/defined/mounted and in
which namespace, claims that stay Pending, hostPath, and one writer per data directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from observer.daemon.config import ENV_TABLE
from observer.daemon.doctor.context import Collector, Context, best_mount, normalize, run_as, under
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import Pod, dig, key_of, ref
from observer.daemon.doctor.render import Obj

_READ_ONLY_SOURCES = ("configMap", "secret", "projected", "downwardAPI")
#: The storage class K3s provisions with by default; it provisions ReadWriteOnce only.
_LOCAL_PATH = "local-path"


def _volume_type(vol: Obj | None) -> str:
    if vol is None:
        return "missing"
    for t in ("persistentVolumeClaim", "emptyDir", "hostPath", *_READ_ONLY_SOURCES, "ephemeral"):
        if t in vol:
            return t
    return "other"


def _claims_of(pod: Pod) -> dict[str, str]:
    """Volume name -> claim name, including a StatefulSet's volumeClaimTemplates."""
    out: dict[str, str] = {}
    for name, vol in pod.volumes.items():
        claim = dig(vol, "persistentVolumeClaim", "claimName")
        if claim:
            out[name] = str(claim)
    for name in pod.claim_templates():
        out.setdefault(name, f"{name}-{dig(pod.owner, 'metadata', 'name')}-N")
    return out


@dataclass(frozen=True)
class Storage:
    """A directory that outlives the pod: inside a claim, or on a node (hostPath)."""

    kind: str  # "claim" or "hostPath"
    ns: str
    name: str  # claim name, or "" for hostPath
    inner: str  # path inside the claim, or the node's path for hostPath
    volume: str  # the pod's volume name

    def overlaps(self, other: Storage) -> bool:
        if (self.kind, self.name) != (other.kind, other.name):
            return False
        if self.kind == "claim" and self.ns and other.ns and self.ns != other.ns:
            return False
        return under(self.inner, other.inner) or under(other.inner, self.inner)

    def describe(self) -> str:
        if self.kind == "claim":
            return f"claim {self.name}"
        return f"hostPath {self.inner}"


def storage_at(pod: Pod, mounts: list[Obj], path: str) -> Storage | None:
    """The shared storage ``path`` is written to, or None (emptyDir, per-replica claim...)."""
    m = best_mount(mounts, path)
    if m is None:
        return None
    vname = str(m.get("name"))
    vol = pod.volumes.get(vname) or {}
    rel = path[len(normalize(str(m["mountPath"]))) :].strip("/")
    inner = normalize("/".join(x for x in (str(m.get("subPath") or ""), rel) if x))
    claim = dig(vol, "persistentVolumeClaim", "claimName")
    if claim:
        return Storage("claim", pod.namespace, str(claim), inner, vname)
    if "hostPath" in vol:
        host = normalize(f"{dig(vol, 'hostPath', 'path')}/{inner}")
        return Storage("hostPath", "", "", host, vname)
    return None


def _writable_mounts(pod: Pod) -> list[Storage]:
    out = []
    for c in pod.containers(init=True):
        for m in c.get("volumeMounts") or []:
            if m.get("readOnly"):
                continue
            s = storage_at(pod, [m], str(m.get("mountPath") or "/"))
            if s is not None:
                out.append(s)
    return out


def _suggest(col: Collector, path: str) -> tuple[Obj, bool] | None:
    """A writable claim mount to point ``path`` at, and whether it fits as it is (the same
    last component, ``.../data`` for a data directory); else one nothing writes yet, else
    any claim mount, to put the directory under."""
    mounts = list(col.container.get("volumeMounts") or [])
    templates = col.pod.claim_templates()
    claims = [m for m in mounts if m.get("mountPath") and not m.get("readOnly") and (
        str(m.get("name")) in templates
        or "persistentVolumeClaim" in (col.pod.volumes.get(str(m.get("name"))) or {}))]  # fmt: skip
    used = {id(m) for p in col.paths.values() if (m := best_mount(mounts, p)) is not None}
    last = path.rstrip("/").rsplit("/", 1)[-1]
    for m in claims:
        if str(m["mountPath"]).rstrip("/").rsplit("/", 1)[-1] == last:
            return m, True
    for m in claims:
        if id(m) not in used:
            return m, False
    return (claims[0], False) if claims else None


def _listing(items: list[tuple[str, str]], unset: bool = False) -> str:
    """``A=/p`` or ``A=/p (not set: the code's default; B, C under it)`` for variables that
    share one problem."""
    (first, path), rest = items[0], [n for n, _ in items[1:]]
    notes = (["not set: the code's default"] if unset else []) + (
        [f"{', '.join(rest)} under it"] if rest else [])  # fmt: skip
    return f"{first}={path}" + (f" ({'; '.join(notes)})" if notes else "")


def check_written_paths(ctx: Context, col: Collector) -> list[Finding]:
    """Every path the daemon writes must sit on a writable volume that survives a restart.

    Variables that share one problem (one volume, or one unmounted directory) are reported
    together, under the outermost of them.
    """
    obj = col.obj
    ro_root = bool(dig(col.container, "securityContext", "readOnlyRootFilesystem"))
    mounts = list(col.container.get("volumeMounts") or [])
    templates = col.pod.claim_templates()
    uid = run_as(col, ctx.image)[0]
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    written = sorted(((v.name, col.paths[v.name]) for v in ENV_TABLE
                      if v.is_path and v.written and v.name in col.paths), key=lambda x: x[1])  # fmt: skip
    for name, path in written:
        best = best_mount(mounts, path)
        if best is None:
            top = next((p for (kind, p) in groups if kind == "none" and under(path, p)), path)
            groups.setdefault(("none", top), []).append((name, path))
            continue
        vname = str(best.get("name"))
        vtype = "persistentVolumeClaim" if vname in templates else _volume_type(
            col.pod.volumes.get(vname))  # fmt: skip
        if vtype in _READ_ONLY_SOURCES or best.get("readOnly"):
            groups.setdefault(("read-only", vname), []).append((name, path))
        elif vtype in ("emptyDir", "ephemeral", "other"):
            groups.setdefault(("ephemeral", vname), []).append((name, path))
        elif vtype == "hostPath" and uid not in (None, 0):
            groups.setdefault(("hostPath", vname), []).append((name, path))
    out: list[Finding] = []
    for (kind, where), items in groups.items():
        items.sort(key=lambda x: [v.name for v in ENV_TABLE].index(x[0]))
        items.sort(key=lambda x: len(x[1]))
        name, path = items[0]
        listing = _listing(items)
        field = f"{col.field}.volumeMounts"
        set_in = col.where(name)[0]
        if kind == "none":
            hint = _suggest(col, path)
            verb = "point" if name in col.env.values else "set"
            if hint is None:
                fix = f"mount a PersistentVolumeClaim at {path} or a parent of it"
            else:
                m, fits = hint
                to = m["mountPath"] if fits else f"a directory under {m['mountPath']}"
                fix = (f"{verb} {name} in {set_in} to {to} (volume {m['name']!r}), or mount a "
                       f"PersistentVolumeClaim at {path}")  # fmt: skip
            fix += "."
            listing = _listing(items, unset=verb == "set")
            if ro_root:
                what = ("on no volume and the root filesystem is read-only: the startup contract "
                        "fails (cannot create the directory) and the pod restarts in a loop "
                        "without collecting.")  # fmt: skip
            else:
                what = ("on no volume: it is written to the container's own filesystem and lost "
                        "at every pod restart.")  # fmt: skip
                fix += " Set readOnlyRootFilesystem: true so such a mistake fails loudly."
            out.append(Finding(Severity.CRITICAL, obj, field, f"{listing} is {what}", fix, name))
            continue
        m = next(m for m in mounts if str(m.get("name")) == where)
        vol = col.pod.volumes.get(where) or {}
        vtype = _volume_type(vol)
        at = f"volume {where!r} mounted at {m.get('mountPath')}"
        mfield = f"{field}[{where}]"
        if kind == "read-only" and vtype in _READ_ONLY_SOURCES:
            out.append(Finding(
                Severity.CRITICAL, obj, mfield,
                f"{listing} is on {at}, a {vtype} volume, which is always read-only: the "
                "startup contract fails and the daemon does not start.",
                f"point {name} in {set_in} at a PVC mount, or mount a writable PVC at {path}.",
                name,
            ))  # fmt: skip
        elif kind == "read-only":
            out.append(Finding(
                Severity.CRITICAL, obj, f"{mfield}.readOnly",
                f"{listing} is on {at} with readOnly: true: the startup contract cannot write "
                "there and the daemon does not start.",
                f"remove readOnly: true from the volumeMount {where!r} (the daemon writes there).",
                name,
            ))  # fmt: skip
        elif kind == "ephemeral":
            out.append(Finding(
                Severity.CRITICAL, obj, mfield,
                f"{listing} is on {at}, {'an' if vtype[0] in 'aeiou' else 'a'} {vtype} deleted "
                "with the pod: everything written there is lost at restart (the daemon's "
                "contract refuses it).",
                f"mount a PersistentVolumeClaim at {m.get('mountPath')} instead of the {vtype}.",
                name,
            ))  # fmt: skip
        else:
            out.append(_hostpath_owner(col, where, vol, int(uid or 0), [n for n, _ in items]))
    return out


def _hostpath_owner(col: Collector, vname: str, vol: Obj, uid: int, names: list[str]) -> Finding:
    kind = str(dig(vol, "hostPath", "type") or "")
    host = dig(vol, "hostPath", "path")
    fs_group = dig(col.pod.spec, "securityContext", "fsGroup")
    note = (f" fsGroup: {fs_group} does not change that: fsGroup is never applied to hostPath "
            "volumes." if fs_group is not None else "")  # fmt: skip
    field = f"{col.pod.prefix}.volumes[{vname}].hostPath"
    what = ", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more paths"
    if kind in ("", "DirectoryOrCreate"):
        return Finding(
            Severity.CRITICAL, col.obj, field,
            f"the kubelet creates hostPath {host} owned by root with mode 0755 and the daemon "
            f"runs as uid {uid}: it cannot write {what} there, so the startup contract fails."
            + note,
            f"replace hostPath {host} with a PersistentVolumeClaim; or create {host} on the node "
            f"owned by {uid} and set type: Directory.",
            names[0],
        )  # fmt: skip
    return Finding(
        Severity.HIGH, col.obj, field,
        f"hostPath {host} keeps the owner and mode it has on the node: the daemon (uid {uid}) "
        f"writes {what} there only if the node's directory lets it." + note,
        f"replace hostPath {host} with a PersistentVolumeClaim, or chown {host} to {uid} on "
        "the node.",
        names[0],
    )  # fmt: skip


def _collector_claims(ctx: Context) -> set[tuple[str, str]]:
    return {(col.pod.namespace, c) for col in ctx.collectors for c in _claims_of(col.pod).values()}


def check_volumes(ctx: Context) -> list[Finding]:
    """hostPath, mounts without volumes, volumes without mounts, claims without PVCs."""
    out: list[Finding] = []
    ours = _collector_claims(ctx)
    for pod in ctx.pods:
        obj = ref(pod.owner)
        templates = pod.claim_templates()
        mounted: set[str] = set()
        for c in pod.containers(init=True):
            for m in c.get("volumeMounts") or []:
                vname = str(m.get("name"))
                mounted.add(vname)
                if vname not in pod.volumes and vname not in templates:
                    out.append(Finding(
                        Severity.CRITICAL, obj, f"{pod.container_field(c)}.volumeMounts[{vname}]",
                        f"the mount names volume {vname!r}, which the pod does not define: the "
                        "API server rejects the pod and nothing runs.",
                        f"add a volume named {vname} to {pod.prefix}.volumes (or fix the name).",
                    ))  # fmt: skip
        for vname, vol in pod.volumes.items():
            field = f"{pod.prefix}.volumes[{vname}]"
            if "hostPath" in vol:
                out.append(Finding(
                    Severity.HIGH, obj, field,
                    f"hostPath {dig(vol, 'hostPath', 'path')} ties the data to one node's "
                    "directory outside Kubernetes' volume management: a reschedule to another "
                    "node starts empty, and nothing sizes, backs up or cleans it.",
                    "use a PersistentVolumeClaim (storageClassName: local-path on K3s).",
                ))  # fmt: skip
            claim = dig(vol, "persistentVolumeClaim", "claimName")
            if vname not in mounted:
                what = f" (claim {claim})" if claim else ""
                out.append(Finding(
                    Severity.HIGH if claim else Severity.WARNING, obj, field,
                    f"volume {vname!r}{what} is declared but no container mounts it: whatever "
                    "was meant to be written there goes elsewhere.",
                    f"add a volumeMount for {vname} at the path the ConfigMap names, or remove it.",
                ))  # fmt: skip
            if claim and ctx.pvcs.get(pod.namespace, str(claim)) is None:
                out.append(
                    _missing_claim(ctx, pod, str(claim), field, (pod.namespace, str(claim)) in ours)
                )
    used = {(pod.namespace, c) for pod in ctx.pods for c in _claims_of(pod).values()}
    for pvc in ctx.pvcs:
        ns, name = key_of(pvc)
        users = [u for u in used if u[1] == name and (not ns or not u[0] or u[0] == ns)]
        if not users:
            out.append(Finding(
                Severity.HIGH, ref(pvc), "metadata.name",
                f"PersistentVolumeClaim {name} is defined but no pod mounts it: storage is "
                "reserved while the data it was meant for is written somewhere else.",
                f"mount {name} in the collector where the ConfigMap's path points, or remove it.",
            ))  # fmt: skip
            continue
        out += _pending(ctx, ref(pvc), "spec", dig(pvc, "spec") or {}, name,
                        any(u in ours for u in users))  # fmt: skip
    for pod in ctx.pods:
        for tname, tmpl in pod.claim_templates().items():
            out += _pending(ctx, ref(pod.owner), f"spec.volumeClaimTemplates[{tname}].spec",
                            dig(tmpl, "spec") or {}, tname, False)  # fmt: skip
    return out


def _missing_claim(ctx: Context, pod: Pod, claim: str, field: str, collector: bool) -> Finding:
    others = ctx.pvcs.elsewhere(pod.namespace, claim)
    if others:
        return Finding(
            Severity.CRITICAL if collector else Severity.HIGH, ref(pod.owner),
            f"{field}.persistentVolumeClaim.claimName",
            f"claim {claim} is defined in namespace {', '.join(others)} but {ref(pod.owner)} runs "
            f"in namespace {pod.namespace}: a pod can only mount claims of its own namespace, so "
            "it stays Pending (persistentvolumeclaim not found).",
            f"define PersistentVolumeClaim {claim} in namespace {pod.namespace} (its "
            "metadata.namespace), or deploy the workload where the claim is.",
        )  # fmt: skip
    return Finding(
        Severity.CRITICAL, ref(pod.owner), f"{field}.persistentVolumeClaim.claimName",
        f"claim {claim!r} is referenced but not defined in these manifests: the pod stays Pending "
        "(persistentvolumeclaim not found) unless it already exists in the cluster — commented "
        "out of the kustomization?",
        f"define PersistentVolumeClaim {claim} (add its file to the kustomization's resources), "
        "or create it before applying.",
    )  # fmt: skip


def _bound_by_hand(ctx: Context, spec: Obj, name: str) -> bool:
    if spec.get("volumeName"):
        return True
    return any(dig(pv, "spec", "claimRef", "name") == name
               or (dig(pv, "spec", "storageClassName") or "") == "" for pv in ctx.pvs)  # fmt: skip


def _pending(
    ctx: Context, obj: str, at: str, spec: Obj, name: str, collector: bool
) -> list[Finding]:
    """Claims K3s can never bind: storageClassName "", ReadWriteMany on local-path."""
    sev = Severity.CRITICAL if collector else Severity.HIGH
    who = "the collector" if collector else "the pod"
    sc = spec.get("storageClassName")
    if sc == "" and not _bound_by_hand(ctx, spec, name):
        return [Finding(
            sev, obj, f"{at}.storageClassName",
            f'storageClassName: "" turns dynamic provisioning off for claim {name}: it binds only '
            "to a PersistentVolume created by hand without a class, none is in these manifests, "
            f"so the claim stays Pending and {who} with it.",
            f"remove storageClassName from claim {name} (K3s then provisions it with "
            f"{_LOCAL_PATH}), or set volumeName to the PersistentVolume made for it.",
        )]  # fmt: skip
    modes = spec.get("accessModes") or []
    if sc in (None, _LOCAL_PATH) and "ReadWriteMany" in modes:
        return [Finding(
            sev, obj, f"{at}.accessModes",
            f"claim {name} asks for ReadWriteMany, which {_LOCAL_PATH} (K3s' default storage "
            f"class) cannot provision: the claim stays Pending and {who} with it.",
            f"set accessModes: [ReadWriteOnce] on claim {name}: the data directory has one "
            "writer anyway.",
        )]  # fmt: skip
    return []


def _data_storage(col: Collector) -> Storage | None:
    mounts = list(col.container.get("volumeMounts") or [])
    return storage_at(col.pod, mounts, col.paths.get("OBSERVER_DATA_DIR", ""))


def _is_current(col: Collector) -> bool:
    return any(r.startswith("gRPC probes") for r in col.recognition.reasons)


def retire_replaced(ctx: Context) -> None:
    """Move a previous collector that shares the data directory with the current one (the
    one with the daemon's gRPC probes) to ``ctx.replaced``: its only finding is that it
    must go, not everything else that is wrong with it."""
    for old in list(ctx.collectors):
        data = _data_storage(old)
        if data is None or _is_current(old):
            continue
        new = next((c for c in ctx.collectors if c is not old and _is_current(c)
                    and (d := _data_storage(c)) is not None and d.overlaps(data)), None)  # fmt: skip
        if new is not None:
            ctx.collectors.remove(old)
            ctx.replaced.append((old, new))


def check_writers(ctx: Context) -> list[Finding]:
    """One writer per data directory, whatever the volume type."""
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()
    for old, new in ctx.replaced:
        data = _data_storage(new)
        assert data is not None
        out.append(_old_collector(old, new, data))
        reported.add((old.obj, data.describe()))
    for col in ctx.collectors:
        data = _data_storage(col)
        if data is None:
            continue
        out += _replicas(ctx, col, data)
        for other in ctx.pods:
            if other is col.pod:
                continue
            hits = [s for s in _writable_mounts(other) if s.overlaps(data)]
            pair = (ref(other.owner), data.describe())
            if not hits or pair in reported or (col.obj, data.describe()) in reported:
                continue
            reported.add(pair)
            out.append(_second_writer(ctx, col, data, other, hits[0]))
    return out + _shared_claims(ctx, reported)


def _old_collector(old: Collector, new: Collector, data: Storage) -> Finding:
    name = str(dig(old.pod.owner, "metadata", "name"))
    ns = old.pod.namespace
    vol = next((s.volume for s in _writable_mounts(old.pod) if s.overlaps(data)), "")
    return Finding(
        Severity.CRITICAL, old.obj, f"{old.pod.prefix}.volumes[{vol}]",
        f"{old.obj} still runs observer-daemon on {data.describe()}, where {new.obj} keeps its "
        "data directory: two collectors write one data directory (the second finds it locked "
        "and crash-loops, or never mounts it on another node).",
        f"remove the old {old.pod.kind} {name} (kubectl delete {old.pod.kind.lower()} {name}"
        f"{f' -n {ns}' if ns else ''}): {new.obj} replaces it.",
    )  # fmt: skip


def _access(ctx: Context, s: Storage) -> str:
    if s.kind != "claim":
        return ""
    modes = dig(ctx.pvcs.get(s.ns, s.name), "spec", "accessModes") or ["ReadWriteOnce"]
    return "ReadWriteMany" if "ReadWriteMany" in modes else "ReadWriteOnce"


def _replicas(ctx: Context, col: Collector, data: Storage) -> list[Finding]:
    out: list[Finding] = []
    pod, obj = col.pod, col.obj
    n = pod.replicas
    where = f"the data directory on {data.describe()}"
    if n is None or n > 1:
        who = "one pod per node" if n is None else f"{n} replicas"
        access = _access(ctx, data)
        if data.kind == "hostPath":
            how = ("pods on one node share the node's directory and the second finds the data "
                   "directory locked and crash-loops; pods on different nodes split the ticks "
                   "between nodes.")  # fmt: skip
        elif access == "ReadWriteMany":
            how = ("ReadWriteMany lets every pod mount it, so the second daemon finds the data "
                   "directory locked and crash-loops (and on K3s' local-path the claim is never "
                   "even provisioned).")  # fmt: skip
        else:
            how = ("a ReadWriteOnce volume is still shared by every pod on its node: the second "
                   "daemon finds the data directory locked and crash-loops, and a pod on another "
                   "node never mounts it.")  # fmt: skip
        field = "spec.replicas" if n is not None else "kind"
        fix = ("set replicas: 1" if n is not None else "run the collector as a Deployment with "
               "replicas: 1") + ("; to scale out, use a sharded StatefulSet with "
                                 "volumeClaimTemplates, one volume and one app key per shard.")  # fmt: skip
        out.append(Finding(Severity.CRITICAL, obj, field, f"{who} write {where}: {how}", fix))
    if pod.kind == "Deployment":
        strategy = dig(pod.owner, "spec", "strategy", "type") or "RollingUpdate"
        if strategy != "Recreate":
            out.append(Finding(
                Severity.HIGH, obj, "spec.strategy.type",
                f"strategy {strategy} starts the new pod before the old one stops, so two pods "
                f"use {where} during every rollout (the new one finds it locked and the rollout "
                "stalls, or hangs in ContainerCreating on another node).",
                "set spec.strategy.type: Recreate.",
            ))  # fmt: skip
    return out


def _second_writer(
    ctx: Context, col: Collector, data: Storage, other: Pod, hit: Storage
) -> Finding:
    field = f"{other.prefix}.volumes[{hit.volume}]"
    what = data.describe()
    twin = next((c for c in ctx.collectors if c.pod is other), None)
    if twin is not None:
        return Finding(
            Severity.CRITICAL, f"{col.obj}, {twin.obj}", field,
            f"both run observer-daemon on {what}: two collectors write one data directory (the "
            "second finds it locked and crash-loops).",
            f"keep one collector: remove the {other.kind} that is being replaced; to scale out, "
            "use a sharded StatefulSet with one volume per shard.",
        )  # fmt: skip
    tool = next((r for p, _, r in ctx.daemon_tools if p is other), None)
    runs = f" (observer-daemon {tool.subcommand})" if tool is not None and tool.subcommand else ""
    if other.is_job:
        fix = (f"remove the mount of {what} from {ref(other.owner)}: the daemon makes its own "
               "verified backups (OBSERVER_BACKUP_TIME, or a backup from the console); a job that "
               "only reads must mount it with readOnly: true.")  # fmt: skip
    else:
        fix = (f"mount {what} with readOnly: true in {ref(other.owner)} if it only reads (to "
               "delete files is the daemon's retention, OBSERVER_RETAIN_RAW_DAYS, which waits "
               "for Parquet, PostgreSQL and a verified backup), or remove the mount.")  # fmt: skip
    return Finding(
        Severity.CRITICAL, ref(other.owner), field,
        f"{ref(other.owner)}{runs} mounts {what} writable, where {col.obj} keeps its data "
        "directory: a second writer of one data directory while the daemon runs (files "
        "changed or removed under it; on ReadWriteOnce, a pod on another node never starts).",
        fix,
    )  # fmt: skip


def _shared_claims(ctx: Context, reported: set[tuple[str, str]]) -> list[Finding]:
    """Other ReadWriteOnce claims (PostgreSQL's, ...) mounted writable by several workloads."""
    out: list[Finding] = []
    writers: dict[tuple[str, str], set[str]] = {}
    for pod in ctx.pods:
        for s in _writable_mounts(pod):
            if s.kind != "claim" or s.volume in pod.claim_templates():
                continue
            if _access(ctx, s) == "ReadWriteOnce":
                writers.setdefault((s.ns, s.name), set()).add(ref(pod.owner))
    for (_, claim), owners in writers.items():
        names = sorted(owners)
        if len(names) < 2 or any((o, f"claim {claim}") in reported for o in names):
            continue
        out.append(Finding(
            Severity.CRITICAL, ", ".join(names), "volumes",
            f"ReadWriteOnce claim {claim} is mounted writable by several workloads: two writers "
            "on one volume.",
            "give each workload its own claim.",
        ))  # fmt: skip
    return out
