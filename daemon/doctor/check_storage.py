"""Volume checks: where every written path lands, PVCs referenced/defined/mounted, hostPath,
and one writer per ReadWriteOnce volume.
"""

from __future__ import annotations

from observer.daemon.config import ENV_TABLE
from observer.daemon.doctor.context import Collector, Context, under
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import Pod, dig, ref

_READ_ONLY_SOURCES = ("configMap", "secret", "projected", "downwardAPI")


def _volume_type(vol: dict[str, object] | None, pod: Pod) -> str:
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


def check_written_paths(ctx: Context, col: Collector) -> list[Finding]:
    """Every path the daemon writes must sit on a writable volume that survives a restart."""
    out: list[Finding] = []
    obj = ref(col.pod.owner)
    ro_root = bool(dig(col.container, "securityContext", "readOnlyRootFilesystem"))
    mounts = list(col.container.get("volumeMounts") or [])
    templates = col.pod.claim_templates()
    for v in ENV_TABLE:
        if not (v.is_path and v.written) or v.name not in col.paths:
            continue
        path = col.paths[v.name]
        best = None
        for m in mounts:
            mp = str(m.get("mountPath") or "")
            if mp and under(path, mp) and (best is None or len(mp) > len(best["mountPath"])):
                best = m
        field = f"{col.field}.volumeMounts"
        if best is None:
            if ro_root:
                out.append(Finding(
                    Severity.CRITICAL, obj, field,
                    f"{v.name}={path} is on no volume and the root filesystem is read-only: the "
                    "startup contract fails (cannot create the directory) and the pod restarts "
                    "in a loop without collecting.",
                    f"mount a PersistentVolumeClaim at {path} or a parent of it, or point "
                    f"{v.name} under an existing PVC mount.",
                    v.name,
                ))  # fmt: skip
            else:
                out.append(Finding(
                    Severity.CRITICAL, obj, field,
                    f"{v.name}={path} is on no volume: it is written to the container's own "
                    "filesystem and lost at every pod restart.",
                    f"mount a PersistentVolumeClaim at {path} or a parent of it, and set "
                    "readOnlyRootFilesystem: true so such a mistake fails loudly.",
                    v.name,
                ))  # fmt: skip
            continue
        vname = str(best.get("name"))
        vol = col.pod.volumes.get(vname)
        vtype = "persistentVolumeClaim" if vname in templates else _volume_type(vol, col.pod)
        where = f"volume {vname!r} mounted at {best.get('mountPath')}"
        if vtype == "missing":
            continue  # reported by check_volumes
        if bool(best.get("readOnly")) or vtype in _READ_ONLY_SOURCES:
            out.append(Finding(
                Severity.CRITICAL, obj, f"{field}[{vname}]",
                f"{v.name}={path} is on {where}, which is read-only ({vtype}): the startup "
                "contract fails and the daemon does not start.",
                f"point {v.name} at a PVC mount, or mount a writable PVC at {path}.",
                v.name,
            ))  # fmt: skip
        elif vtype in ("emptyDir", "ephemeral", "other"):
            out.append(Finding(
                Severity.CRITICAL, obj, f"{field}[{vname}]",
                f"{v.name}={path} is on {where}, a {vtype} deleted with the pod: everything "
                "written there is lost at restart (the daemon's contract refuses it).",
                f"mount a PersistentVolumeClaim at {path} (or a parent) instead of the {vtype}.",
                v.name,
            ))  # fmt: skip
    return out


def check_volumes(ctx: Context) -> list[Finding]:
    """hostPath, mounts without volumes, volumes without mounts, claims without PVCs."""
    out: list[Finding] = []
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
                        Severity.CRITICAL, obj,
                        f"{pod.prefix}.containers[{c.get('name')}].volumeMounts[{vname}]",
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
            if vname not in mounted:
                claim = dig(vol, "persistentVolumeClaim", "claimName")
                what = f" (claim {claim})" if claim else ""
                out.append(Finding(
                    Severity.HIGH if claim else Severity.WARNING, obj, field,
                    f"volume {vname!r}{what} is declared but no container mounts it: whatever "
                    "was meant to be written there goes elsewhere.",
                    f"add a volumeMount for {vname} at the path the ConfigMap names, or remove it.",
                ))  # fmt: skip
            claim = dig(vol, "persistentVolumeClaim", "claimName")
            if claim and str(claim) not in ctx.pvcs:
                out.append(Finding(
                    Severity.CRITICAL, obj, f"{field}.persistentVolumeClaim.claimName",
                    f"claim {claim!r} is referenced but not defined in these manifests: the pod "
                    "stays Pending (persistentvolumeclaim not found) unless it already exists "
                    "in the cluster — commented out of the kustomization?",
                    f"define PersistentVolumeClaim {claim} (add its file to the kustomization's "
                    "resources), or create it before applying.",
                ))  # fmt: skip
    used = {c for pod in ctx.pods for c in _claims_of(pod).values()}
    for name, pvc in ctx.pvcs.items():
        if name not in used:
            out.append(Finding(
                Severity.HIGH, ref(pvc), "metadata.name",
                f"PersistentVolumeClaim {name} is defined but no pod mounts it: storage is "
                "reserved while the data it was meant for is written somewhere else.",
                f"mount {name} in the collector where the ConfigMap's path points, or remove it.",
            ))  # fmt: skip
    return out + _check_single_writer(ctx)


def _rwo(ctx: Context, claim: str, pod: Pod, vname: str) -> bool:
    tmpl = pod.claim_templates().get(vname)
    spec = dig(tmpl, "spec") if tmpl else dig(ctx.pvcs.get(claim), "spec")
    modes = (spec or {}).get("accessModes") or ["ReadWriteOnce"]
    return "ReadWriteMany" not in modes and "ReadOnlyMany" not in modes


def _check_single_writer(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    writers: dict[str, list[str]] = {}
    for pod in ctx.pods:
        obj = ref(pod.owner)
        rwo = [
            (v, c) for v, c in _claims_of(pod).items()
            if v not in pod.claim_templates() and _rwo(ctx, c, pod, v)
        ]  # fmt: skip
        for _v, c in rwo:
            writers.setdefault(c, []).append(obj)
        if not rwo:
            continue
        claims = ", ".join(sorted(c for _, c in rwo))
        replicas = dig(pod.owner, "spec", "replicas")
        n = 1 if replicas is None else int(replicas)
        if pod.kind == "DaemonSet" or n > 1:
            out.append(Finding(
                Severity.CRITICAL, obj, "spec.replicas",
                f"{'every node' if pod.kind == 'DaemonSet' else f'{n} replicas'} share the "
                f"ReadWriteOnce claim(s) {claims}: two writers on one volume (on one node they "
                "both mount it; the second daemon finds the data directory locked and fails).",
                "set replicas: 1; scale out with a sharded StatefulSet, one volume per shard.",
            ))  # fmt: skip
        if pod.kind == "Deployment":
            strategy = dig(pod.owner, "spec", "strategy", "type") or "RollingUpdate"
            if strategy != "Recreate":
                out.append(Finding(
                    Severity.HIGH, obj, "spec.strategy.type",
                    f"strategy {strategy} starts the new pod before the old one stops, so two "
                    f"pods use the ReadWriteOnce claim(s) {claims} during every rollout (the new "
                    "one fails its contract, or hangs in ContainerCreating on another node).",
                    "set spec.strategy.type: Recreate.",
                ))  # fmt: skip
    for claim, owners in writers.items():
        if len(set(owners)) > 1:
            out.append(Finding(
                Severity.CRITICAL, ", ".join(sorted(set(owners))), "volumes",
                f"ReadWriteOnce claim {claim} is mounted by several workloads: two writers on "
                "one volume.",
                "give each workload its own claim.",
            ))  # fmt: skip
    return out
