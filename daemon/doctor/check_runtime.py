"""Runtime checks: probes against the daemon's health service names and port, the security
context, resources, the NetworkPolicy, and PostgreSQL's workload kind.
"""

from __future__ import annotations

from observer.daemon import probes
from observer.daemon.doctor.check_env import probe_port
from observer.daemon.doctor.context import Collector, Context, under
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import dig, is_postgres, ref

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
            kind = next((k for k in ("httpGet", "tcpSocket", "exec") if k in probe), "other")
            out.append(Finding(
                Severity.WARNING, obj, path,
                f"{field} uses {kind}, not the daemon's gRPC health service: it cannot see a "
                "failed contract, a stalled writer or a full volume.",
                f"use grpc: {{port: {port}, service: {service}}}.",
            ))  # fmt: skip
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
    if has_pvc and pod_sc.get("fsGroup") is None and eff("runAsUser") not in (None, 0):
        warn(f"{col.pod.prefix}.securityContext.fsGroup",
             "no fsGroup: a freshly provisioned volume is owned by root and the non-root daemon "
             "cannot write it (the contract fails with permission denied).",
             "set fsGroup to the daemon's gid (999).")  # fmt: skip
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
            svc = ctx.services.get(svc_name)
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
        host = col.config.db_host.split(".", 1)[0]
        if host not in ctx.services and "." not in col.config.db_host:
            out.append(Finding(
                Severity.WARNING, ref(col.pod.owner), f"{col.field}.env",
                f"DB_HOST={col.config.db_host} names no Service in these manifests: the "
                "PostgreSQL sink cannot connect (collection continues).",
                "point DB_HOST at the PostgreSQL Service (observer-postgres).",
                "DB_HOST",
            ))  # fmt: skip
    return out
