"""Runtime checks: probes against the daemon's health service names and port, the security
context, resources, the NetworkPolicy, and PostgreSQL's workload kind.
"""

from __future__ import annotations

from observer.daemon import probes
from observer.daemon.doctor.check_env import port_setting, probe_port
from observer.daemon.doctor.context import Collector, Context, run_as, under
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import dig, is_postgres, ref
from observer.daemon.doctor.render import Obj

#: probe field -> (service it should name, severity when absent, severity when it can never pass)
_PROBES = {
    "startupProbe": (probes.STARTUP, Severity.WARNING, Severity.CRITICAL),
    "livenessProbe": (probes.LIVENESS, Severity.HIGH, Severity.CRITICAL),
    "readinessProbe": (probes.READINESS, Severity.HIGH, Severity.HIGH),
}

_WHEN_ABSENT = {
    "startupProbe": "the liveness probe runs from the start, so a slow startup contract or "
    "first KIS session can get the pod killed before it ever collects.",
    "livenessProbe": "a stalled writer or event loop is never restarted: the pod looks "
    "healthy while no tick is written.",
    "readinessProbe": "a full or unwritable volume never takes the pod out of the Service, so "
    "the console shows it as fine.",
}

_WHEN_FAILING = {
    "startupProbe": "the startup probe never passes, so the pod is killed and restarted in a "
    "loop (CrashLoopBackOff)",
    "livenessProbe": "the liveness probe always fails, so the pod is restarted every few periods",
    "readinessProbe": "the readiness probe always fails, so the pod is never Ready and the "
    "Service has no endpoint",
}


def check_probes(ctx: Context, col: Collector) -> list[Finding]:
    out: list[Finding] = []
    obj = ref(col.pod.owner)
    port = probe_port(col)
    named_ports = {
        str(p.get("name")): p.get("containerPort") for p in col.container.get("ports") or []
    }
    for field, (service, absent_sev, failing_sev) in _PROBES.items():
        probe = col.container.get(field)
        path = f"{col.field}.{field}"
        if not probe:
            out.append(Finding(
                absent_sev, obj, path, f"no {field}: {_WHEN_ABSENT[field]}",
                f"add {field}: grpc: {{port: {port}, service: {service}}}.",
            ))  # fmt: skip
            continue
        grpc = probe.get("grpc")
        if not isinstance(grpc, dict):
            out.append(_not_grpc(col, field, path, probe, named_ports, failing_sev))
            continue
        pport = grpc.get("port")
        if isinstance(pport, str):
            pport = named_ports.get(pport, pport)
        if pport != port:
            out.append(Finding(
                failing_sev, obj, f"{path}.grpc.port",
                f"{field} connects to port {pport} but the daemon serves gRPC on SERVICE_PORT="
                f"{port}: {_WHEN_FAILING[field]}.",
                f"set {field}.grpc.port: {port} (or change SERVICE_PORT to match).",
                "SERVICE_PORT",
            ))  # fmt: skip
        name = str(grpc.get("service") or "")
        if name not in probes.ALL:
            served = ", ".join(repr(s) for s in probes.ALL)
            out.append(Finding(
                failing_sev, obj, f"{path}.grpc.service",
                f"{field} asks for health service {name!r}, which the daemon does not serve "
                f"(it answers NOT_FOUND): {_WHEN_FAILING[field]}.",
                f"use service: {service} (served: {served}).",
            ))  # fmt: skip
        elif name != service:
            out.append(Finding(
                Severity.WARNING, obj, f"{path}.grpc.service",
                f"{field} asks for {name!r}, which answers a different question than "
                f"{service!r}; the pod would be {'restarted' if field == 'livenessProbe' else 'gated'} "
                "for the wrong reason.",
                f"use service: {service}.",
            ))  # fmt: skip
    if port not in named_ports.values():
        out.append(Finding(
            Severity.WARNING, obj, f"{col.field}.ports",
            f"the gRPC port {port} is not declared as a containerPort: the Service's named "
            "targetPort and port-forward by name do not find it.",
            f"add ports: [{{name: grpc, containerPort: {port}}}].",
        ))  # fmt: skip
    return out


def _not_grpc(
    col: Collector, field: str, path: str, probe: Obj, named: dict[str, object], failing: Severity
) -> Finding:
    """A probe that is not the daemon's gRPC health service: blind at best, never passing
    at worst (the daemon serves no HTTP health endpoint)."""
    port = probe_port(col)
    metrics = port_setting(col, "OBSERVER_METRICS_PORT")
    service = _PROBES[field][0]
    use = f"use grpc: {{port: {port}, service: {service}}} instead."
    kind = next((k for k in ("httpGet", "tcpSocket", "exec") if k in probe), "other")
    target = dig(probe, kind, "port")
    target = named.get(target, target) if isinstance(target, str) else target
    command = " ".join(str(x) for x in dig(probe, "exec", "command") or [])
    http = kind == "httpGet" or "http://" in command or command.split(" ", 1)[0] in ("curl", "wget")
    if http and not (metrics and (target == metrics or f":{metrics}" in command)):
        what = (f"httpGet {dig(probe, 'httpGet', 'path') or '/'} on port {target}"
                if kind == "httpGet" else f"an HTTP request ({command[:60]})")  # fmt: skip
        return Finding(
            failing, col.obj, f"{path}.{kind}",
            f"{field} is {what}, but the daemon serves no HTTP health endpoint (its health is "
            f"gRPC on port {port}; only the Prometheus metrics on {metrics or 'no port'} speak "
            f"HTTP): {_WHEN_FAILING[field]}.",
            f"replace {kind} with grpc: {{port: {port}, service: {service}}}.",
        )  # fmt: skip
    if kind == "tcpSocket" and target not in (port, metrics):
        return Finding(
            failing, col.obj, f"{path}.tcpSocket.port",
            f"{field} connects to port {target}, where the daemon does not listen (gRPC on "
            f"{port}): {_WHEN_FAILING[field]}.",
            use,
        )  # fmt: skip
    return Finding(
        Severity.WARNING, col.obj, f"{path}.{kind}",
        f"{field} uses {kind}, which passes whenever the port answers: it cannot see a failed "
        "contract, a stalled writer or a full volume.",
        use,
    )  # fmt: skip


#: Resident memory of observer-daemon, measured on the development machine (2 cores, x86_64,
#: Python 3.11.7) on the built-in simulator at its default rate (OBSERVER_SIM_RATE=200
#: ticks/s), reading VmRSS/VmHWM from /proc/PID/status of
#:   OBSERVER_CONTAINER=false OBSERVER_DATA_DIR=$T/data OBSERVER_LOG_DIR=$T/logs \
#:   OBSERVER_CONTROL_TOKEN=... SERVICE_PORT=<free port> OBSERVER_METRICS_PORT=<free port> \
#:   .venv/bin/observer-daemon run
#: (stopped with SIGTERM), with schema version 2 and the XKRX calendar: 103.9-105.2 MiB once
#: its health service is SERVING, 106.3-106.6 MiB after 60 s at 200 ticks/s, and a peak
#: (VmHWM) of 167.9-170.0 MiB after the first segment rotation (a RotateNow call), when
#: Parquet is derived. README.md, "Memory of the daemon", has the runs.
DAEMON_START_MIB = 106
DAEMON_PEAK_MIB = 171

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
          "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}  # fmt: skip


def mebibytes(quantity: object) -> float | None:
    """A Kubernetes memory quantity (``64Mi``, ``1G``, ``134217728``) in MiB."""
    q = str(quantity).strip()
    factor = 1
    for suffix, mult in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if q.endswith(suffix):
            q, factor = q[: -len(suffix)], mult
            break
    try:
        return float(q) * factor / 2**20
    except ValueError:
        return None


def check_memory(col: Collector) -> list[Finding]:
    """The memory limit against what the daemon was measured to need."""
    res = col.container.get("resources") or {}
    out: list[Finding] = []
    limit = dig(res, "limits", "memory")
    mib = mebibytes(limit) if limit is not None else None
    field = f"{col.field}.resources.limits.memory"
    fix = (f"set limits.memory to 256Mi or more (the daemon peaks near {DAEMON_PEAK_MIB} MiB "
           "at the simulator's default rate; manifests/base gives it 1Gi).")  # fmt: skip
    if mib is not None and mib < DAEMON_START_MIB:
        out.append(Finding(
            Severity.CRITICAL, col.obj, field,
            f"limits.memory {limit} is below the {DAEMON_START_MIB} MiB the daemon holds right "
            "after start: it is OOMKilled before it collects, in a restart loop.",
            fix,
        ))  # fmt: skip
    elif mib is not None and mib < DAEMON_PEAK_MIB:
        out.append(Finding(
            Severity.HIGH, col.obj, field,
            f"limits.memory {limit} is below the {DAEMON_PEAK_MIB} MiB the daemon reaches when a "
            "segment closes and Parquet is derived: it is OOMKilled at the first rotation, "
            "every hour.",
            fix,
        ))  # fmt: skip
    request = dig(res, "requests", "memory")
    req = mebibytes(request) if request is not None else None
    if req is not None and req < DAEMON_START_MIB and (mib is None or mib >= DAEMON_START_MIB):
        out.append(Finding(
            Severity.WARNING, col.obj, f"{col.field}.resources.requests.memory",
            f"requests.memory {request} is below the {DAEMON_START_MIB} MiB the daemon holds: "
            "the scheduler overcommits the node, and under memory pressure this pod is evicted "
            "first.",
            f"set requests.memory to {DAEMON_PEAK_MIB}Mi or more (manifests/base: 256Mi).",
        ))  # fmt: skip
    return out


def check_security(ctx: Context, col: Collector) -> list[Finding]:
    out: list[Finding] = []
    obj = ref(col.pod.owner)
    pod_sc = col.pod.spec.get("securityContext") or {}
    sc = col.container.get("securityContext") or {}
    path = f"{col.field}.securityContext"

    def eff(key: str) -> object:
        return sc.get(key, pod_sc.get(key))

    def warn(field: str, what: str, fix: str) -> None:
        out.append(Finding(Severity.WARNING, obj, field, what, fix))

    if not sc.get("readOnlyRootFilesystem"):
        warn(f"{path}.readOnlyRootFilesystem",
             "the root filesystem is writable: a path without a volume is written silently "
             "into the container and lost at the next restart instead of failing at start.",
             "set readOnlyRootFilesystem: true (with an emptyDir for /tmp).")  # fmt: skip
    else:
        mounts = [str(m.get("mountPath")) for m in col.container.get("volumeMounts") or []]
        if not any(under("/tmp", mp) for mp in mounts):
            warn(f"{col.field}.volumeMounts",
                 "the root filesystem is read-only and /tmp has no volume: libraries that "
                 "write temporary files fail with EROFS.",
                 "mount an emptyDir at /tmp.")  # fmt: skip
    if eff("runAsNonRoot") is not True:
        warn(f"{path}.runAsNonRoot", "the container may run as root.",
             "set runAsNonRoot: true and runAsUser/runAsGroup: 999.")  # fmt: skip
    if sc.get("allowPrivilegeEscalation") is not False:
        warn(f"{path}.allowPrivilegeEscalation", "privilege escalation is allowed.",
             "set allowPrivilegeEscalation: false.")  # fmt: skip
    if "ALL" not in (dig(sc, "capabilities", "drop") or []):
        warn(f"{path}.capabilities", "Linux capabilities are not dropped.",
             "set capabilities: {drop: [ALL]}.")  # fmt: skip
    if not dig(sc, "seccompProfile", "type") and not dig(pod_sc, "seccompProfile", "type"):
        warn(f"{path}.seccompProfile", "no seccomp profile: every syscall is allowed.",
             "set seccompProfile: {type: RuntimeDefault} in the pod securityContext.")  # fmt: skip
    has_pvc = any("persistentVolumeClaim" in v for v in col.pod.volumes.values())
    uid, gid, said = run_as(col, ctx.image)
    fs_group = pod_sc.get("fsGroup")
    if has_pvc and fs_group is None and uid not in (None, 0):
        warn(f"{col.pod.prefix}.securityContext.fsGroup",
             "no fsGroup: a freshly provisioned volume is owned by root and the non-root daemon "
             "cannot write it (the contract fails with permission denied).",
             f"set fsGroup to the daemon's gid ({gid if gid is not None else 999}).")  # fmt: skip
    elif has_pvc and fs_group is not None and gid is not None and fs_group != gid:
        out.append(Finding(
            Severity.HIGH, obj, f"{col.pod.prefix}.securityContext.fsGroup",
            f"fsGroup {fs_group} disagrees with the daemon's group {gid} ({said}): the daemon "
            f"writes the volume only through supplementary group {fs_group}, and where fsGroup "
            "is not applied (hostPath, K3s local-path volumes of type hostPath) an old "
            f"deployment's directories stay unwritable for uid {uid}: the startup contract "
            "fails (permission denied).",
            f"set fsGroup: {gid} (the daemon's group) and chown existing data to {uid}:{gid} once.",
        ))  # fmt: skip
    res = col.container.get("resources") or {}
    if not res.get("requests") or not dig(res, "limits", "memory"):
        warn(f"{col.field}.resources",
             "no requests or memory limit: the scheduler cannot place the pod sensibly and a "
             "leak takes the node's memory instead of restarting the pod.",
             "set requests (cpu, memory) and limits.memory.")  # fmt: skip
    sa_name = col.pod.spec.get("serviceAccountName") or "default"
    sa = next((o for o in ctx.objects if o.get("kind") == "ServiceAccount"
               and dig(o, "metadata", "name") == sa_name), None)  # fmt: skip
    automount = col.pod.spec.get("automountServiceAccountToken")
    if automount is None and sa is not None:
        automount = sa.get("automountServiceAccountToken")
    if automount is not False:
        warn(f"{col.pod.prefix}.automountServiceAccountToken",
             "a Kubernetes API token is mounted although the daemon never calls the API.",
             "set automountServiceAccountToken: false.")  # fmt: skip
    return out


def check_network(ctx: Context, col: Collector) -> list[Finding]:
    labels = dig(col.pod.owner, "spec", "template", "metadata", "labels") or {}
    for o in ctx.objects:
        if o.get("kind") != "NetworkPolicy":
            continue
        sel = dig(o, "spec", "podSelector", "matchLabels") or {}
        if all(labels.get(k) == v for k, v in sel.items()):
            return []
    return [Finding(
        Severity.WARNING, ref(col.pod.owner), "spec.template.metadata.labels",
        "no NetworkPolicy selects the collector: any pod in the cluster can reach its gRPC "
        "control port.",
        "add a NetworkPolicy that admits only metrics scraping (manifests/base/networkpolicy.yaml).",
    )]  # fmt: skip


def check_postgres(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for pod in ctx.pods:
        for c in pod.containers():
            if not is_postgres(c):
                continue
            obj = ref(pod.owner)
            if pod.kind != "StatefulSet":
                out.append(Finding(
                    Severity.HIGH, obj, "kind",
                    f"PostgreSQL runs as a {pod.kind}: no stable identity, and a rollout or "
                    "reschedule can start a second postmaster on the same data volume.",
                    "run it as a StatefulSet with a headless Service and volumeClaimTemplates "
                    "(manifests/base/postgres.yaml).",
                ))  # fmt: skip
                continue
            svc_name = str(dig(pod.owner, "spec", "serviceName") or "")
            svc = ctx.services.get(pod.namespace, svc_name)
            if svc is None or dig(svc, "spec", "clusterIP") != "None":
                out.append(Finding(
                    Severity.WARNING, obj, "spec.serviceName",
                    f"serviceName {svc_name!r} is not a headless Service in these manifests: "
                    "the pod gets no stable DNS name.",
                    "add a Service with clusterIP: None and that name.",
                ))  # fmt: skip
            for field in ("livenessProbe", "readinessProbe"):
                if not c.get(field):
                    out.append(Finding(
                        Severity.WARNING, obj, f"{pod.prefix}.containers[{c.get('name')}].{field}",
                        f"PostgreSQL has no {field}.",
                        f"add {field}: exec: pg_isready.",
                    ))  # fmt: skip
    for col in ctx.collectors:
        if col.config is None or not col.config.postgres_enabled:
            continue
        host = col.config.db_host
        if "." not in host and ctx.services.get(col.pod.namespace, host) is None:
            obj, at = col.where("DB_HOST")
            names = sorted({str(dig(p.owner, "spec", "serviceName") or "")
                            for p, _ in ctx.postgres_pods()} - {""})  # fmt: skip
            out.append(Finding(
                Severity.WARNING, obj, at,
                f"DB_HOST={host} names no Service in these manifests: the PostgreSQL sink "
                "cannot connect (collection continues; rows wait in the files).",
                f"point DB_HOST in {obj} at the PostgreSQL Service"
                + (f" ({', '.join(names)})." if names else "."),
                "DB_HOST",
            ))  # fmt: skip
    return out
