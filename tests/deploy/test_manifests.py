"""The manifests render, validate against the Kubernetes schemas, and agree with the
environment table, the health service names and the Dockerfile."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from observer.daemon import probes
from observer.daemon.config import BY_NAME, CLUSTER_RUNTIME, ENV_TABLE
from observer.daemon.doctor.expected import (
    CONFIGMAP_NAME,
    RUNTIME_ENV,
    SECRET_OWNERS,
    cluster_value,
    configmap_data,
    configmap_yaml,
)
from observer.daemon.doctor.render import parse_dockerfile
from tests.deploy.conftest import MANIFESTS, OVERLAYS, needs_kubectl, one, render

K8S_VERSION = "1.31"
pytestmark = needs_kubectl


def _collector(objs: list[dict[str, Any]]) -> dict[str, Any]:
    dep = one(objs, "Deployment", "observer")
    c: dict[str, Any] = dep["spec"]["template"]["spec"]["containers"][0]
    return c


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_overlay_renders_with_kubectl_kustomize(overlay: str) -> None:
    kinds = {o["kind"] for o in render(OVERLAYS[overlay])}
    assert {"Deployment", "StatefulSet", "ConfigMap", "PersistentVolumeClaim", "Service",
            "NetworkPolicy", "ServiceAccount"} <= kinds  # fmt: skip


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_rendered_object_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    for o in render(OVERLAYS[overlay]):
        if o["apiVersion"] == "bitnami.com/v1alpha1":
            # A CRD: no upstream schema; check the shape the controller needs.
            assert o["kind"] == "SealedSecret"
            assert o["spec"]["encryptedData"] and o["spec"]["template"]["metadata"]["name"]
            continue
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)


def test_schema_validation_rejects_a_misspelled_field() -> None:
    dep = one(render(OVERLAYS["base"]), "Deployment", "observer")
    dep["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_base_configmap_file_is_the_one_generated_from_the_table() -> None:
    assert (MANIFESTS / "base" / "configmap.yaml").read_text() == configmap_yaml()


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_configmap_carries_every_non_secret_variable_and_no_other(overlay: str) -> None:
    data = one(render(OVERLAYS[overlay]), "ConfigMap", CONFIGMAP_NAME)["data"]
    expected = {v.name for v in ENV_TABLE if not v.secret}
    assert set(data) == expected


def test_base_configmap_values_are_the_tables_cluster_values() -> None:
    data = one(render(OVERLAYS["base"]), "ConfigMap", CONFIGMAP_NAME)["data"]
    assert data == configmap_data()
    for v in ENV_TABLE:
        if v.is_path and not v.secret:
            assert data[v.name].startswith(CLUSTER_RUNTIME + "/"), v.name


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_written_path_is_under_a_pvc_mount(overlay: str) -> None:
    objs = render(OVERLAYS[overlay])
    data = one(objs, "ConfigMap", CONFIGMAP_NAME)["data"]
    spec = one(objs, "Deployment", "observer")["spec"]["template"]["spec"]
    pvc_vols = {v["name"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    for v in ENV_TABLE:
        if v.written:
            mp = max((m for m in mounts if (data[v.name] + "/").startswith(m + "/")), key=len)
            assert mounts[mp] in pvc_vols, f"{v.name} is on {mounts[mp]}"


def test_pvcs_have_the_agreed_names_sizes_and_storage_class() -> None:
    objs = render(OVERLAYS["prod"])
    sizes = {
        o["metadata"]["name"]: o["spec"]["resources"]["requests"]["storage"]
        for o in objs
        if o["kind"] == "PersistentVolumeClaim"
    }
    assert sizes == {"observer-data-pvc": "20Gi", "observer-logs-pvc": "5Gi"}
    for o in objs:
        if o["kind"] == "PersistentVolumeClaim":
            assert o["spec"]["storageClassName"] == "local-path"
            assert o["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_collector_is_one_replica_recreated_never_rolled() -> None:
    dep = one(render(OVERLAYS["prod"]), "Deployment", "observer")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}


def test_probes_name_the_daemons_health_services_on_the_grpc_port() -> None:
    c = _collector(render(OVERLAYS["prod"]))
    port = int(BY_NAME["SERVICE_PORT"].default)
    assert c["startupProbe"]["grpc"] == {"port": port, "service": probes.STARTUP}
    assert c["livenessProbe"]["grpc"] == {"port": port, "service": probes.LIVENESS}
    assert c["readinessProbe"]["grpc"] == {"port": port, "service": probes.READINESS}


def test_security_context_is_non_root_read_only_and_drops_everything() -> None:
    objs = render(OVERLAYS["prod"])
    spec = one(objs, "Deployment", "observer")["spec"]["template"]["spec"]
    sc = spec["containers"][0]["securityContext"]
    assert spec["securityContext"]["fsGroup"] == 999
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"]) == (999, 999, True)
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert spec["automountServiceAccountToken"] is False
    assert one(objs, "ServiceAccount")["automountServiceAccountToken"] is False


def test_secrets_come_from_secrets_split_by_owner() -> None:
    env = _collector(render(OVERLAYS["prod"]))["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env}
    assert {n: r["name"] for n, r in refs.items()} == SECRET_OWNERS
    assert all(r["key"] == n for n, r in refs.items())
    assert {v.name for v in ENV_TABLE if v.secret} == set(SECRET_OWNERS)


def test_prod_sealed_secrets_provide_every_key_the_pods_reference() -> None:
    objs = render(OVERLAYS["prod"])
    provided = {
        (o["spec"]["template"]["metadata"]["name"], k)
        for o in objs
        if o["kind"] == "SealedSecret"
        for k in o["spec"]["encryptedData"]
    }
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    r = e.get("valueFrom", {}).get("secretKeyRef")
                    if r:
                        assert (r["name"], r["key"]) in provided
                        assert o["metadata"]["namespace"] == "observer-prod"


def test_prod_lives_in_namespace_observer_prod() -> None:
    for o in render(OVERLAYS["prod"]):
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == "observer-prod", o["metadata"]["name"]


def test_service_exposes_grpc_and_metrics_and_network_policy_admits_only_metrics() -> None:
    objs = render(OVERLAYS["prod"])
    svc = one(objs, "Service", "observer")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"grpc": 50051, "metrics": 9464}
    pol = one(objs, "NetworkPolicy", "observer-collector")
    ports = [p["port"] for rule in pol["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [int(BY_NAME["OBSERVER_METRICS_PORT"].default)]


def test_postgres_is_a_statefulset_with_headless_service_claim_template_and_pg_isready() -> None:
    objs = render(OVERLAYS["prod"])
    sts = one(objs, "StatefulSet", "observer-postgres")
    svc = one(objs, "Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    c = sts["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "pg_isready" in " ".join(c[probe]["exec"]["command"])
    assert svc["metadata"]["name"] == cluster_value(BY_NAME["DB_HOST"])


def test_dockerfile_sets_only_table_variables_and_agrees_with_the_configmap() -> None:
    image = parse_dockerfile(MANIFESTS / "Dockerfile")
    data = yaml.safe_load((MANIFESTS / "base" / "configmap.yaml").read_text())["data"]
    observer_vars = {k: v for k, v in image.env.items() if k not in RUNTIME_ENV}
    assert set(observer_vars) <= set(BY_NAME), set(observer_vars) - set(BY_NAME)
    for k, v in observer_vars.items():
        assert not BY_NAME[k].secret, k
        assert data[k] == v, k
    written = {v.name for v in ENV_TABLE if v.is_path}
    assert written <= set(observer_vars), "the image should name every path"


def test_dockerfile_runs_observer_daemon_run_as_999_with_caches_in_tmp() -> None:
    image = parse_dockerfile(MANIFESTS / "Dockerfile")
    assert image.entrypoint == ["observer-daemon", "run"]
    assert image.user == "999:999"
    assert image.env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert image.env["HOME"].startswith("/tmp")
    assert image.env["XDG_CACHE_HOME"].startswith("/tmp")
