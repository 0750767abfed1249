"""doctor's backup and capacity checks beyond their incident fixtures: a repository on a
node's disk, development left alone, a policy that keeps files forever, and the 70 % band."""

from __future__ import annotations

from typing import Any

from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.manifests import check_objects
from tests.deploy.conftest import one
from tests.deploy.test_doctor import _base_objects

REPO = "data.OBSERVER_BACKUP_REPOSITORY"
SIZE = "spec.resources.requests.storage"


def _on(objs: list[dict[str, Any]], field: str) -> list[Finding]:
    return [f for f in check_objects(objs, None) if f.field == field]


def test_a_local_repository_on_another_local_path_claim_does_not_survive_the_node() -> None:
    objs = _base_objects()
    one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_BACKUP_REPOSITORY"] = (
        "/opt/platform/runtime/observer/logs/backup-repo"
    )
    [f] = _on(objs, REPO)
    assert f.severity is Severity.HIGH
    assert "claim observer-logs-pvc (local-path: the same node's disk as the data)" in f.message
    assert f.fix.startswith("set OBSERVER_BACKUP_REPOSITORY to an s3: repository off the node")


def test_a_local_repository_on_a_network_claim_is_not_judged() -> None:
    objs = _base_objects()
    one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_BACKUP_REPOSITORY"] = (
        "/opt/platform/runtime/observer/logs/backup-repo"
    )
    one(objs, "PersistentVolumeClaim", "observer-logs-pvc")["spec"]["storageClassName"] = "nfs"
    assert _on(objs, REPO) == []


def test_development_may_keep_its_repository_on_the_node() -> None:
    objs = _base_objects()
    data = one(objs, "ConfigMap", "observer-config")["data"]
    data.update(APP_ENV="development", OBSERVER_BACKUP_REPOSITORY="")
    one(objs, "PersistentVolumeClaim", "observer-data-pvc")["spec"]["resources"]["requests"][
        "storage"
    ] = "2Gi"
    assert _on(objs, REPO) == [] and _on(objs, SIZE) == []


def test_a_policy_that_keeps_parquet_forever_fills_any_claim() -> None:
    objs = _base_objects()
    one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_RETAIN_DATASET_DAYS"] = "0"
    [f] = _on(objs, SIZE)
    assert f.severity is Severity.HIGH and f.object == "PersistentVolumeClaim/observer-data-pvc"
    assert "OBSERVER_RETAIN_DATASET_DAYS=0 keeps files forever" in f.message
    assert "fills in " in f.message and " days, whatever its size" in f.message
    assert f.fix.startswith("set OBSERVER_RETAIN_DATASET_DAYS in ConfigMap observer-config")


def test_a_claim_that_holds_the_steady_state_above_70_percent_is_a_warning() -> None:
    objs = _base_objects()
    pvc = one(objs, "PersistentVolumeClaim", "observer-data-pvc")
    pvc["spec"]["resources"]["requests"]["storage"] = "16Gi"
    [f] = _on(objs, SIZE)
    assert f.severity is Severity.WARNING and "little room" in f.message
    assert "to 19Gi" in f.fix
    pvc["spec"]["resources"]["requests"]["storage"] = "20Gi"  # the shipped size: below 70 %
    assert _on(objs, SIZE) == []


def test_a_statefulset_claim_template_is_sized_too() -> None:
    objs = _base_objects()
    dep = one(objs, "Deployment", "observer")
    objs.remove(one(objs, "PersistentVolumeClaim", "observer-data-pvc"))
    dep["kind"] = "StatefulSet"
    dep["spec"].pop("strategy", None)
    dep["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}}}}
    ]  # fmt: skip
    pod = dep["spec"]["template"]["spec"]
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "data"]
    assert pod["containers"][0]["volumeMounts"][0]["name"] == "data"
    [f] = _on(objs, f"spec.volumeClaimTemplates[data].{SIZE}")
    assert f.severity is Severity.HIGH and f.object == "StatefulSet/observer"
