"""`observer-daemon doctor`: silent on the shipped manifests and on other correct layouts,
and for each incident fixture (the old deployment's mistakes, written the way its operators
wrote their YAML) the finding an operator can act on: the severity, the object, the field,
and a fix that names the thing to change."""

from __future__ import annotations

import copy
import io
import json
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from observer.daemon.doctor.check_runtime import DAEMON_PEAK_MIB, DAEMON_START_MIB, mebibytes
from observer.daemon.doctor.check_secrets import is_placeholder
from observer.daemon.doctor.cli import main
from observer.daemon.doctor.findings import EXIT_USAGE, Finding, Severity, exit_code
from observer.daemon.doctor.manifests import Report, check_manifests, check_objects
from observer.daemon.doctor.render import parse_dockerfile
from tests.deploy.conftest import FIXTURES, MANIFESTS, OVERLAYS, needs_kubectl, one

C, H, W, INFO = Severity.CRITICAL, Severity.HIGH, Severity.WARNING, Severity.INFO
POD = "spec.template.spec"
OBS = f"{POD}.containers[observer]"
DEP = "Deployment/observer"


@dataclass(frozen=True)
class Want:
    """A finding a fixture must produce."""

    severity: Severity
    object: str  # exact, or the end of a file path
    field: str  # exact
    fix: str  # the fix must name this (the thing to change)
    says: str = ""  # and the message this, when given


#: Incident fixture -> the findings it must produce.
INCIDENTS: dict[str, list[Want]] = {
    # The incidents the project exists to end.
    "pvc-commented-out": [
        Want(C, DEP, f"{POD}.volumes[data].persistentVolumeClaim.claimName",
             "PersistentVolumeClaim observer-data-pvc"),
    ],
    "hostpath": [
        Want(H, DEP, f"{POD}.volumes[data]", "PersistentVolumeClaim"),
        Want(C, DEP, f"{POD}.volumes[data].hostPath", "hostPath /srv/observer/data",
             "fsGroup is never applied to hostPath"),
    ],
    "paths-disagree": [
        Want(C, DEP, f"{OBS}.volumeMounts",
             "OBSERVER_DATA_DIR in ConfigMap/observer-config to /opt/platform/runtime/observer/data"),
        Want(H, "paths-disagree/Dockerfile", "ENV OBSERVER_DATA_DIR", "ENV OBSERVER_DATA_DIR"),
    ],
    "readonly-root-unmounted-path": [
        Want(C, DEP, f"{OBS}.volumeMounts", "OBSERVER_SNAPSHOT_DIR in ConfigMap/observer-config"),
    ],
    "two-replicas-rwo": [
        Want(C, DEP, "spec.replicas", "replicas: 1"),
        Want(H, DEP, "spec.strategy.type", "Recreate"),
    ],
    "pvc-not-mounted": [
        Want(H, "PersistentVolumeClaim/observer-logs-pvc", "metadata.name",
             "mount observer-logs-pvc"),
        Want(C, DEP, f"{OBS}.volumeMounts", "/opt/platform/runtime/observer/logs"),
    ],
    "emptydir-data": [
        Want(C, DEP, f"{OBS}.volumeMounts[data]", "PersistentVolumeClaim at "
             "/opt/platform/runtime/observer/data instead of the emptyDir"),
    ],
    "probes-wrong": [
        Want(C, DEP, f"{OBS}.livenessProbe.grpc.service", "service: observer.liveness"),
        Want(H, DEP, f"{OBS}.readinessProbe", "service: observer.readiness"),
    ],
    "postgres-deployment": [
        Want(H, "Deployment/observer-postgres", "kind", "StatefulSet"),
        Want(C, "(manifests)", "", "otherwise add the collector Deployment",
             "containers[postgres] of Deployment/observer-postgres"),
    ],
    "secret-key-missing": [
        Want(C, DEP, f"{OBS}.env[OBSERVER_CONTROL_TOKEN]",
             "key OBSERVER_CONTROL_TOKEN of Secret observer-console"),
    ],
    # Missed before: more than one writer of one data directory, whatever the volume.
    "replicas-hostpath": [
        Want(C, "Deployment/observer/observer", "spec.replicas", "replicas: 1",
             "hostPath /var/lib/observer/data"),
    ],
    "replicas-rwx": [
        Want(C, DEP, "spec.replicas", "replicas: 1", "ReadWriteMany"),
        Want(C, "PersistentVolumeClaim/observer-data-pvc", "spec.accessModes",
             "accessModes: [ReadWriteOnce]"),
    ],
    "cronjob-mounts-data": [
        Want(C, "CronJob/observer-backup", "spec.jobTemplate.spec.template.spec.volumes[data]",
             "remove the mount of claim observer-data-pvc from CronJob/observer-backup"),
    ],
    "second-deployment-mounts-data": [
        Want(C, "Deployment/tick-exporter", f"{POD}.volumes[data]",
             "mount claim observer-data-pvc with readOnly: true in Deployment/tick-exporter"),
    ],
    "old-deployment-left": [
        Want(C, "Deployment/observer-collector", f"{POD}.volumes[data]",
             "remove the old Deployment observer-collector"),
    ],
    # fsGroup
    "fsgroup-mismatch": [
        Want(H, DEP, f"{POD}.securityContext.fsGroup", "fsGroup: 999", "group 999"),
    ],
    "fsgroup-hostpath": [
        Want(H, "Deployment/observer/observer", f"{POD}.volumes[data].hostPath",
             "chown /srv/observer/data", "fsGroup: 999 does not change that"),
    ],
    # Secret hygiene
    "secret-placeholders": [
        Want(C, "Secret/observer-kis", "stringData.KIS_APP_KEY",
             "real KIS_APP_KEY into Secret observer-kis"),
        Want(C, "Secret/observer-kis", "stringData.KIS_APP_SECRET",
             "real KIS_APP_SECRET into Secret observer-kis"),
        Want(H, "Secret/observer-db", "stringData.DB_PASSWORD", "real DB_PASSWORD"),
        Want(H, "Secret/observer-console", "data.OBSERVER_CONTROL_TOKEN",
             "real OBSERVER_CONTROL_TOKEN"),
    ],
    "sealedsecret-namespace": [
        Want(C, "SealedSecret/observer-prod/observer-kis", "metadata.namespace",
             "seal it again for namespace observer-prod", "KIS_APP_KEY, KIS_APP_SECRET"),
    ],
    "sealedsecret-name": [
        Want(C, "SealedSecret/observer-prod/observer-kis", "metadata.name",
             "seal it again for the name observer-kis", "sealed for the name kis-credentials"),
    ],
    "env-file-unmounted": [
        Want(C, "ConfigMap/observer-config", "data.OBSERVER_ENV_FILE",
             "remove OBSERVER_ENV_FILE", "exits at start"),
    ],
    "http-probes": [
        Want(C, DEP, f"{OBS}.startupProbe.httpGet",
             "grpc: {port: 50051, service: observer.startup}", "no HTTP health endpoint"),
        Want(C, DEP, f"{OBS}.livenessProbe.httpGet",
             "grpc: {port: 50051, service: observer.liveness}"),
        Want(H, DEP, f"{OBS}.readinessProbe.httpGet",
             "grpc: {port: 50051, service: observer.readiness}"),
    ],
    # Claims and scheduling
    "storageclass-empty": [
        Want(C, "PersistentVolumeClaim/observer-data-pvc", "spec.storageClassName",
             "remove storageClassName from claim observer-data-pvc"),
    ],
    "claim-other-namespace": [
        Want(C, "Deployment/observer/observer",
             f"{POD}.volumes[data].persistentVolumeClaim.claimName",
             "PersistentVolumeClaim observer-data in namespace observer"),
    ],
    "memory-limit-low": [
        Want(C, DEP, f"{OBS}.resources.limits.memory", "limits.memory to 256Mi",
             f"{DAEMON_START_MIB} MiB"),
    ],
    # Finding the collector, and Secrets outside the manifests
    "collector-by-command": [
        Want(C, "Deployment/trading/tick-collector",
             f"{POD}.containers[main].volumeMounts",
             "set OBSERVER_DATA_DIR in ConfigMap/trading/collector-env to /data"),
        Want(W, "ConfigMap/trading/collector-env", "data.DATA_PATH",
             "rename it to OBSERVER_DATA_DIR"),
    ],
    "secret-outside-envfrom": [
        Want(C, "ConfigMap/observer-config", "data.KIS_ENV", "KIS_ENV: real"),
        Want(INFO, DEP, f"{OBS}.envFrom[1]", "Secret", "observer-secrets (KIS_APP_KEY"),
    ],
    # Noise: warn only where the fallback differs from what the deployment needs
    "db-name-fallback": [
        Want(W, "ConfigMap/observer-config", "data.DB_NAME", "DB_NAME: ticks"),
        Want(W, "ConfigMap/observer-config", "data.DB_USER", "DB_USER: collector"),
    ],
    # Wrong places and fixes
    "literal-env": [
        Want(C, DEP, f"{OBS}.env[OBSERVER_LISTEN_ADDRESS]", 'OBSERVER_LISTEN_ADDRESS: "[::]"'),
    ],
    "envfrom-secret-missing-key": [
        Want(W, "SealedSecret/observer-app", "spec.encryptedData.DB_PASSWORD",
             "add key DB_PASSWORD to SealedSecret observer-app"),
        Want(W, "SealedSecret/observer-app", "spec.encryptedData.OBSERVER_CONTROL_TOKEN",
             "add key OBSERVER_CONTROL_TOKEN to SealedSecret observer-app"),
    ],
    "readonly-pvc-mount": [
        Want(C, DEP, f"{OBS}.volumeMounts[data].readOnly",
             "remove readOnly: true from the volumeMount 'data'"),
    ],
    # Backups and capacity (production)
    "backup-repo-on-data-pvc": [
        Want(H, "ConfigMap/observer-config", "data.OBSERVER_BACKUP_REPOSITORY",
             "set OBSERVER_BACKUP_REPOSITORY to an s3: repository off the node",
             "on claim observer-data-pvc, the data volume it is meant to protect"),
    ],
    "backup-repo-unset": [
        Want(H, "ConfigMap/observer-config", "data.OBSERVER_BACKUP_REPOSITORY",
             "set OBSERVER_BACKUP_REPOSITORY to an s3: repository off the node",
             "/opt/platform/runtime/observer/observer-runtime/backup-repo"),
    ],
    "data-pvc-too-small": [
        Want(H, "PersistentVolumeClaim/observer-data-pvc", "spec.resources.requests.storage",
             "raise spec.resources.requests.storage of claim observer-data-pvc to 19Gi",
             "OBSERVER_RETAIN_RAW_DAYS=7, OBSERVER_RETAIN_DATASET_DAYS=150"),
    ],
}  # fmt: skip

#: Correct layouts: doctor must pass them (exit 0, INFO at most).
CORRECT = [
    "app-layout", "single-pvc-subpaths", "extra-emptydirs", "cronjob-status",
    "configmap-missing-vars",
]  # fmt: skip


def _dockerfile(d: Path) -> Path | None:
    """The fixture's own Dockerfile; the repository's for fixtures built on manifests/base."""
    if (d / "Dockerfile").is_file():
        return d / "Dockerfile"
    k = d / "kustomization.yaml"
    if k.is_file() and "manifests/base" in k.read_text(encoding="utf-8"):
        return MANIFESTS / "Dockerfile"
    return None


def _check(fixture: str) -> Report:
    d = FIXTURES / fixture
    return check_manifests(d, dockerfile=_dockerfile(d))


def _matches(f: Finding, w: Want) -> bool:
    return (
        f.severity is w.severity
        and (f.object == w.object or f.object.endswith("/" + w.object))
        and f.field == w.field
        and w.fix in f.fix
        and w.says in f.message
    )


def test_every_fixture_folder_is_an_incident_or_a_correct_layout() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders == set(INCIDENTS) | set(CORRECT)
    assert not set(INCIDENTS) & set(CORRECT)


@needs_kubectl
@pytest.mark.parametrize("fixture", sorted(INCIDENTS))
def test_each_incident_is_reported_where_it_is_with_a_fix_that_names_it(fixture: str) -> None:
    report = _check(fixture)
    for want in INCIDENTS[fixture]:
        assert any(_matches(f, want) for f in report.findings), (want, report.findings)
    worst = max(w.severity for w in INCIDENTS[fixture])
    assert exit_code(report.findings) == int(worst)
    for f in report.findings:
        assert f.object and f.message and f.fix


@needs_kubectl
@pytest.mark.parametrize("fixture", CORRECT)
def test_correct_layouts_pass(fixture: str) -> None:
    report = _check(fixture)
    assert exit_code(report.findings) == 0, [f for f in report.findings if f.severity > INFO]
    assert len(report.collectors) == 1


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_doctor_finds_nothing_in_the_overlays(overlay: str) -> None:
    report = check_manifests(OVERLAYS[overlay])
    assert report.findings == []
    assert "Dockerfile" in report.source
    [judged] = report.collectors
    assert judged.startswith(f"Deployment/observer-{overlay}/observer, container observer (by ")
    assert "image " in judged and "gRPC probes for observer.liveness" in judged


@needs_kubectl
def test_base_alone_says_once_which_keys_it_expects_from_the_secrets_overlays_provide() -> None:
    findings = check_manifests(OVERLAYS["base"]).findings
    assert [f.severity for f in findings] == [INFO]
    msg = findings[0].message
    assert "observer-db (DB_PASSWORD)" in msg
    assert "observer-kis (KIS_APP_KEY, KIS_APP_SECRET, KIS_HTS_ID (optional))" in msg
    assert "observer-console (OBSERVER_CONTROL_TOKEN)" in msg


@needs_kubectl
def test_a_secret_outside_the_manifests_is_unknown_not_absent() -> None:
    findings = _check("secret-outside-envfrom").findings
    # Only what is wrong whatever the Secret holds: KIS_ENV. Not "KIS keys unset under
    # APP_ENV=production", not "DB_PASSWORD comes from nowhere", not the control token.
    assert [f.variable for f in findings if f.severity > INFO] == ["KIS_ENV"]
    assert not any("APP_ENV=production" in f.message for f in findings)


def test_a_secret_outside_the_manifests_judges_a_simulator_deployment_by_what_is_known() -> None:
    objs = _base_objects()
    cm = one(objs, "ConfigMap", "observer-config")
    cm["data"].update(APP_ENV="development", KIS_ENV="")
    c = _collector(objs)
    del c["env"]
    c["envFrom"].append({"secretRef": {"name": "observer-secrets"}})
    # Without KIS keys it runs on the simulator; with them KIS_ENV would be missing. Unknown.
    assert exit_code(check_objects(objs, None)) == 0


@needs_kubectl
def test_a_cronjob_is_not_held_to_the_collectors_rules() -> None:
    report = _check("cronjob-mounts-data")
    on_cronjob = [f for f in report.findings if f.object == "CronJob/observer-backup"]
    assert len(on_cronjob) == 1 and "Probe" not in on_cronjob[0].field
    assert report.collectors == [c for c in report.collectors if c.startswith(DEP + ",")]


def test_a_reader_that_mounts_the_data_claim_read_only_is_no_second_writer() -> None:
    objs = _base_objects()
    reader = copy.deepcopy(one(objs, "Deployment", "observer"))
    reader["metadata"]["name"] = "tick-reader"
    spec = reader["spec"]["template"]["spec"]
    spec["containers"] = [{"name": "reader", "image": "registry.local/reader:1",
                           "volumeMounts": [{"name": "data", "mountPath": "/data",
                                             "readOnly": True}]}]  # fmt: skip
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] == "data"]
    findings = check_objects([*objs, reader], None)
    assert not [f for f in findings if "tick-reader" in f.object and f.severity >= H]


@needs_kubectl
def test_the_old_deployment_gets_one_finding_it_must_go() -> None:
    report = _check("old-deployment-left")
    old = [f for f in report.findings if f.object == "Deployment/observer-collector"]
    assert len(old) == 1
    assert "replaced by Deployment/observer" in report.collectors[-1]


@needs_kubectl
def test_the_collector_is_recognised_by_its_command_and_named() -> None:
    report = _check("collector-by-command")
    assert report.collectors == [
        "Deployment/trading/tick-collector, container main (by its command "
        "'observer-daemon run', settings KIS_ENV)"
    ]
    assert not any("no container runs observer-daemon" in f.message for f in report.findings)


def test_with_no_recognisable_collector_doctor_names_what_it_looked_at() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ticks"},
           "spec": {"containers": [{"name": "main", "image": "registry.local/ticks:3"}]}}  # fmt: skip
    [f] = [f for f in check_objects([pod], None) if f.severity is C]
    assert "containers[main] of Pod/ticks (registry.local/ticks:3)" in f.message
    assert f.fix.startswith("if one of these is the collector")


@needs_kubectl
def test_placeholder_values_never_appear_in_the_output() -> None:
    for argv in (["--json"], []):
        out = io.StringIO()
        main(["--manifests", str(FIXTURES / "secret-placeholders"), *argv], stdout=out)
        for value in ("<your-app-key>", "changeme", "cmVwbGFjZS1tZQ==", "replace-me"):
            assert value not in out.getvalue()


def test_placeholder_detection() -> None:
    for v in ("changeme", "CHANGE_ME", "<your-app-key>", "replace-me", "xxxx", "password",
              "${KIS_APP_KEY}", "your_token_here", "TODO"):  # fmt: skip
        assert is_placeholder(v), v
    assert not is_placeholder(None)
    for v in ("", "PSg5fI2r0bS8x7A1", "observer-dev-token", "3f9c0d2a7b1e4c55"):
        assert not is_placeholder(v), v


def test_a_sealed_secret_with_cluster_wide_scope_decrypts_anywhere() -> None:
    sealed = {
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "observer-kis", "namespace": "observer-prod", "annotations": {
            "sealedsecrets.bitnami.com/cluster-wide": "true"}},
        "spec": {"encryptedData": {"KIS_APP_KEY": "AgA=", "KIS_APP_SECRET": "AgB="},
                 "template": {"metadata": {"name": "kis", "namespace": "observer"}}},
    }  # fmt: skip
    objs = [*_base_objects(namespace="observer-prod"), sealed]
    assert not [f for f in check_objects(objs, None) if f.object.startswith("SealedSecret")]


# --- malformed objects ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c, p: c.update(env={"DB_HOST": "x"}),
         "spec.template.spec.containers[0].env"),
        (lambda c, p: c.update(securityContext="strict"),
         "spec.template.spec.containers[0].securityContext"),
        (lambda c, p: p["volumes"].append(None), "spec.template.spec.volumes[4]"),
        (lambda c, p: c["volumeMounts"][0].update(mountPath=["/data"]),
         "spec.template.spec.containers[0].volumeMounts[0].mountPath"),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_shape_is_one_critical_finding(change: Any, field: str) -> None:
    objs = _base_objects()
    change(_collector(objs), _pod(objs))
    findings = check_objects(objs, None)
    [f] = [f for f in findings if f.object == DEP and f.field == field]
    assert f.severity is C and "the API server rejects the object" in f.message


def test_unreadable_files_are_findings_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe kind: Pod")
    [f] = check_manifests(tmp_path / "bad.yaml", dockerfile=None).findings
    assert f.severity is C and "cannot be read" in f.message
    (tmp_path / "Dockerfile").write_bytes(b"FROM x\n\xff\n")
    report = check_manifests(FIXTURES / "app-layout", dockerfile=tmp_path / "Dockerfile")
    assert any(f.severity is W and "the image was not checked" in f.message
               for f in report.findings)  # fmt: skip


def test_doctor_never_raises_on_mangled_manifests() -> None:
    """Fields deleted, emptied or given another type, 400 times: findings, no traceback."""
    rng = random.Random(14)

    def spots(o: Any) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = []
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else []
        for k, v in list(items):
            out.append((o, k))
            out += spots(v)
        return out

    for _ in range(400):
        objs = _base_objects()
        for parent, key in rng.sample(spots(objs), 3):
            parent[key] = rng.choice([None, "x", 7, "", [], {}, [None]])
        check_objects(objs, parse_dockerfile(MANIFESTS / "Dockerfile"))


# --- memory --------------------------------------------------------------------------------


def test_memory_quantities() -> None:
    assert mebibytes("64Mi") == 64 and mebibytes("1Gi") == 1024
    assert mebibytes("134217728") == 128 and mebibytes("1G") == pytest.approx(953.67, 0.01)
    assert mebibytes("lots") is None


@pytest.mark.parametrize(
    ("limit", "severity"),
    [("64Mi", C), (f"{DAEMON_START_MIB + 20}Mi", H), (f"{DAEMON_PEAK_MIB + 1}Mi", None)],
)
def test_memory_limit_against_the_measured_daemon(limit: str, severity: Severity | None) -> None:
    objs = _base_objects()
    _collector(objs)["resources"] = {"requests": {"memory": limit}, "limits": {"memory": limit}}
    found = [f.severity for f in check_objects(objs, None) if "resources" in f.field]
    assert found == ([severity] if severity else [])


# --- the environment file ------------------------------------------------------------------


def test_an_env_file_mounted_from_a_configmap_is_read_and_judged() -> None:
    objs = _base_objects()
    one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_ENV_FILE"] = "/etc/observer/env"
    del one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_LOG_DIR"]
    objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "observer-env"},
                 "data": {"env": "OBSERVER_LOG_DIR=/var/log/observer\n"}})  # fmt: skip
    c = _collector(objs)
    c["volumeMounts"].append({"name": "envfile", "mountPath": "/etc/observer", "readOnly": True})
    _pod(objs)["volumes"].append({"name": "envfile", "configMap": {"name": "observer-env"}})
    findings = check_objects(objs, None)
    # The file is there and readable; the LOG_DIR it sets lands on no volume.
    assert not any(f.variable == "OBSERVER_ENV_FILE" for f in findings)
    assert any(f.variable == "OBSERVER_LOG_DIR" and "/var/log/observer" in f.message
               and f.severity is C for f in findings)  # fmt: skip


def test_an_env_file_on_an_empty_dir_is_missing() -> None:
    objs = _base_objects()
    one(objs, "ConfigMap", "observer-config")["data"]["OBSERVER_ENV_FILE"] = "/tmp/.env"
    [f] = [f for f in check_objects(objs, None) if f.variable == "OBSERVER_ENV_FILE"]
    assert f.severity is C and "emptyDir" in f.message


# --- output --------------------------------------------------------------------------------


@needs_kubectl
def test_exit_code_is_the_worst_severity() -> None:
    out = io.StringIO()
    assert main(["--manifests", str(OVERLAYS["prod"])], stdout=out) == 0
    assert main(["--manifests", str(FIXTURES / "configmap-missing-vars")], stdout=out) == 0
    assert main(["--manifests", str(FIXTURES / "db-name-fallback")], stdout=out) == 1
    assert main(["--manifests", str(FIXTURES / "fsgroup-hostpath")], stdout=out) == 2
    assert main(["--manifests", str(FIXTURES / "two-replicas-rwo")], stdout=out) == 3


@needs_kubectl
def test_json_output_keeps_every_field() -> None:
    out = io.StringIO()
    code = main(["--manifests", str(FIXTURES / "configmap-missing-vars"), "--json"], stdout=out)
    doc = json.loads(out.getvalue())
    assert code == 0 and doc["exit_code"] == 0 and doc["worst"] == "INFO"
    assert doc["collectors"] and doc["collectors"][0].startswith(DEP + ", container observer")
    summary = next(f for f in doc["findings"] if "keep the code's default" in f["message"])
    assert set(summary) == {"severity", "object", "field", "message", "fix", "variable", "detail"}
    # The table leaves the list out; JSON has it.
    assert summary["detail"] == "OBSERVER_SYMBOLS, OBSERVER_MIN_FREE_MB"
    assert doc["counts"]["INFO"] == len(doc["findings"])


@needs_kubectl
@pytest.mark.parametrize("columns", [80, 120])
def test_table_groups_by_object_one_line_each_where_it_fits_and_never_splits_a_path(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    main(["--manifests", str(FIXTURES / "old-deployment-left")], stdout=out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("doctor: kubectl kustomize")
    assert sum(1 for ln in lines if ln.startswith("Deployment/observer-collector")) == 1
    assert "exit code 3" in lines[-1]
    findings = _check("old-deployment-left").findings
    joined = " ".join(ln.strip() for ln in lines)
    for f in findings:
        for word in f.fix.split():
            if "/" in word:  # paths and object names stay whole
                assert word in joined, word
    for ln in lines:
        assert len(ln) <= columns or " " not in ln.strip(), ln
    # With room for it a short finding takes one line, its fix the next.
    assert re.search(r"^  CRITICAL volumes\[data\]: ", text, re.M)


def test_a_missing_manifests_path_is_a_usage_error_not_a_severity() -> None:
    err = io.StringIO()
    assert main(["--manifests", "/nonexistent/manifests"], stderr=err) == EXIT_USAGE
    assert "does not exist" in err.getvalue()
    assert main(["--bogus"], stderr=io.StringIO()) == EXIT_USAGE


# --- reading the manifests -----------------------------------------------------------------


@needs_kubectl
def test_rendered_yaml_is_read_from_standard_input() -> None:
    for overlay, code in (("prod", 0), ("two-replicas-rwo", 3)):
        path = OVERLAYS.get(overlay) or FIXTURES / overlay
        text = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        out = io.StringIO()
        assert main(["--manifests", "-", "--json"], stdin=io.StringIO(text), stdout=out) == code
        assert json.loads(out.getvalue())["source"].startswith("standard input")


def test_empty_standard_input_is_critical_and_a_terminal_is_a_usage_error() -> None:
    out = io.StringIO()
    assert main(["--manifests", "-", "--json"], stdin=io.StringIO(""), stdout=out) == 3
    assert "holds no objects" in json.loads(out.getvalue())["findings"][0]["message"]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = io.StringIO()
    assert main(["--manifests", "-"], stdin=Tty(), stderr=err) == EXIT_USAGE
    assert "pipe it in" in err.getvalue()


def test_plain_yaml_is_read_without_kubectl() -> None:
    report = check_manifests(FIXTURES / "postgres-deployment", kubectl="")
    assert any(f.severity is H and f.field == "kind" for f in report.findings)


def test_a_directory_of_plain_yaml_is_read_with_its_subdirectories(tmp_path: Path) -> None:
    (tmp_path / "observer" / "templates").mkdir(parents=True)
    src = (FIXTURES / "app-layout" / "observer.yaml").read_text(encoding="utf-8")
    (tmp_path / "observer" / "templates" / "all.yaml").write_text(src, encoding="utf-8")
    report = check_manifests(tmp_path, dockerfile=FIXTURES / "app-layout" / "Dockerfile")
    assert exit_code(report.findings) == 0 and report.collectors
    assert "(1 YAML file)" in report.source


def test_without_kubectl_a_kustomization_is_read_and_unapplied_patches_are_reported() -> None:
    report = check_manifests(FIXTURES / "two-replicas-rwo", kubectl="")
    assert any(f.severity is W and "patches" in f.field for f in report.findings)
    assert "without kubectl" in report.source


def test_a_kustomization_that_does_not_render_is_critical(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    findings = check_manifests(tmp_path, dockerfile=None).findings
    assert [f.severity for f in findings] == [C]
    assert "cannot be rendered" in findings[0].message


def test_dockerfile_parser_reads_the_final_stage(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text(
        "FROM a AS build\nENV OBSERVER_DATA_DIR=/build\n"
        "FROM b\n# comment\nENV BASE=/srv \\\n    OBSERVER_DATA_DIR=${BASE}/data\n"
        "ENV LOG_LEVEL DEBUG\nWORKDIR /srv\nWORKDIR app\nUSER 999:999\n"
        'COPY --chown=999:999 observer.env .env\nCOPY ["a", "b", "/etc/observer/"]\n'
        'ENTRYPOINT ["observer-daemon", "run"]\n'
    )
    image = parse_dockerfile(df)
    assert image.env == {"BASE": "/srv", "OBSERVER_DATA_DIR": "/srv/data", "LOG_LEVEL": "DEBUG"}
    assert image.workdir == "/srv/app" and image.user == "999:999"
    assert image.entrypoint == ["observer-daemon", "run"]
    assert image.copies == ["/srv/app/.env", "/etc/observer/"]


def test_relative_code_defaults_land_under_the_image_workdir(tmp_path: Path) -> None:
    # No ConfigMap and no image paths: the code's laptop default is relative to WORKDIR,
    # i.e. on the container's root filesystem.
    (tmp_path / "Dockerfile").write_text("FROM x\nWORKDIR /app\nUSER 999\n")
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: observer}\nspec:\n  containers:\n"
        "    - name: observer\n      image: observer-daemon:1\n"
    )
    report = check_manifests(tmp_path / "pod.yaml", dockerfile=tmp_path / "Dockerfile")
    crit = [f for f in report.findings if f.severity is C and f.variable == "OBSERVER_DATA_DIR"]
    assert crit and "/app/observer-runtime/data" in crit[0].message
    assert "lost at every pod restart" in crit[0].message


# --- the live environment ------------------------------------------------------------------


def test_live_doctor_passes_on_writable_directories(tmp_path: Path) -> None:
    env = {"OBSERVER_DATA_DIR": str(tmp_path / "data"), "OBSERVER_LOG_DIR": str(tmp_path / "l"),
           "OBSERVER_CONFIG_DIR": str(tmp_path), "OBSERVER_CONTAINER": "false"}  # fmt: skip
    for d in ("data", "data/snapshots", "data/.kis-token", "l", "l/system", "l/maintenance"):
        (tmp_path / d).mkdir(parents=True)
    out = io.StringIO()
    assert main([], stdout=out, environ=env) == 0, out.getvalue()


def test_live_doctor_names_the_regular_file_in_the_way_and_does_not_say_create_it(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for data in (blocker, blocker / "data"):
        env = {"OBSERVER_DATA_DIR": str(data), "OBSERVER_LOG_DIR": str(tmp_path / "l"),
               "OBSERVER_CONTAINER": "false"}  # fmt: skip
        out = io.StringIO()
        assert main(["--json"], stdout=out, environ=env) == 3
        doc = json.loads(out.getvalue())
        [f] = [f for f in doc["findings"] if f["variable"] == "OBSERVER_DATA_DIR"]
        assert "regular file" in f["message"] and str(blocker) in f["fix"]
        assert "create it" not in f["fix"]


def test_live_doctor_reports_a_setting_the_daemon_would_refuse() -> None:
    out = io.StringIO()
    assert main([], stdout=out, environ={"SERVICE_PORT": "many"}) == 3
    assert "SERVICE_PORT" in out.getvalue()


# --- helpers -------------------------------------------------------------------------------

_BASE: list[dict[str, Any]] = []


def _base_objects(namespace: str = "") -> list[dict[str, Any]]:
    """manifests/base as rendered objects (a fresh copy to change), from its files."""
    if not _BASE:
        for name in ("configmap", "pvc", "deployment", "service", "networkpolicy",
                     "serviceaccount", "postgres"):  # fmt: skip
            text = (MANIFESTS / "base" / f"{name}.yaml").read_text(encoding="utf-8")
            _BASE.extend(d for d in yaml.safe_load_all(text) if d)
    objs = copy.deepcopy(_BASE)
    if namespace:
        for o in objs:
            o["metadata"]["namespace"] = namespace
    return objs


def _pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objs, "Deployment", "observer")["spec"]["template"]["spec"]
    return spec


def _collector(objs: list[dict[str, Any]]) -> dict[str, Any]:
    c: dict[str, Any] = _pod(objs)["containers"][0]
    return c
