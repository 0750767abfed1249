"""`observer-daemon doctor`: silent on the shipped manifests, and the right finding for each
deliberately broken fixture (one per incident that lost data in the old deployment)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from observer.daemon.doctor.cli import main
from observer.daemon.doctor.findings import EXIT_USAGE, Finding, Severity, to_table
from observer.daemon.doctor.manifests import check_manifests
from observer.daemon.doctor.render import parse_dockerfile
from tests.deploy.conftest import FIXTURES, OVERLAYS, needs_kubectl

C, H, W = Severity.CRITICAL, Severity.HIGH, Severity.WARNING

#: fixture -> findings it must produce: (severity, field fragment, variable or "")
EXPECTED: dict[str, list[tuple[Severity, str, str]]] = {
    "pvc-commented-out": [(C, "volumes[data].persistentVolumeClaim.claimName", "")],
    "hostpath": [(H, "volumes[data]", ""), (H, "volumes[logs]", "")],
    "paths-disagree": [
        (C, "volumeMounts", "OBSERVER_DATA_DIR"),
        (H, "ENV OBSERVER_DATA_DIR", "OBSERVER_DATA_DIR"),
        (W, "data.OBSERVER_DATA_DIR", "OBSERVER_DATA_DIR"),
    ],
    "readonly-root-unmounted-path": [(C, "volumeMounts", "OBSERVER_SNAPSHOT_DIR")],
    "two-replicas-rwo": [(C, "spec.replicas", ""), (H, "spec.strategy.type", "")],
    "pvc-not-mounted": [(H, "metadata.name", ""), (C, "volumeMounts", "OBSERVER_LOG_DIR")],
    "emptydir-data": [(C, "volumeMounts[data]", "OBSERVER_DATA_DIR")],
    "configmap-missing-vars": [
        (W, "data.OBSERVER_MIN_FREE_MB", "OBSERVER_MIN_FREE_MB"),
        (W, "data.OBSERVER_SYMBOLS", "OBSERVER_SYMBOLS"),
    ],
    "probes-wrong": [(C, "livenessProbe.grpc.service", ""), (H, "readinessProbe", "")],
    "postgres-deployment": [(H, "kind", ""), (H, "spec.strategy.type", "")],
    "secret-key-missing": [(C, "env[OBSERVER_CONTROL_TOKEN]", "")],
}


def _has(findings: list[Finding], sev: Severity, field: str, variable: str) -> bool:
    return any(
        f.severity is sev and field in f.field and (not variable or f.variable == variable)
        for f in findings
    )


def test_every_fixture_folder_has_expectations() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(EXPECTED)


@needs_kubectl
@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_doctor_finds_nothing_in_the_overlays(overlay: str) -> None:
    report = check_manifests(OVERLAYS[overlay])
    assert report.findings == []
    assert "Dockerfile" in report.source


@needs_kubectl
def test_doctor_on_base_only_notes_the_secrets_that_overlays_provide() -> None:
    findings = check_manifests(OVERLAYS["base"]).findings
    assert findings and all(f.severity is Severity.INFO for f in findings)
    assert {f.message.split(" is not part")[0] for f in findings} == {
        "Secret observer-db", "Secret observer-kis", "Secret observer-console"
    }  # fmt: skip


@needs_kubectl
@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_doctor_reports_the_incident_of_each_broken_fixture(fixture: str) -> None:
    findings = check_manifests(FIXTURES / fixture).findings
    for sev, field, variable in EXPECTED[fixture]:
        assert _has(findings, sev, field, variable), (sev, field, variable, findings)
    for f in findings:
        assert f.object and f.message and f.fix


@needs_kubectl
def test_exit_code_is_the_worst_severity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--manifests", str(OVERLAYS["prod"])]) == 0
    assert main(["--manifests", str(FIXTURES / "configmap-missing-vars")]) == 1
    assert main(["--manifests", str(FIXTURES / "hostpath")]) == 2
    assert main(["--manifests", str(FIXTURES / "two-replicas-rwo")]) == 3


@needs_kubectl
def test_json_output_carries_severity_object_field_and_fix() -> None:
    out = io.StringIO()
    code = main(["--manifests", str(FIXTURES / "emptydir-data"), "--json"], stdout=out)
    doc = json.loads(out.getvalue())
    assert code == 3 and doc["exit_code"] == 3 and doc["worst"] == "CRITICAL"
    first = doc["findings"][0]
    assert set(first) >= {"severity", "object", "field", "message", "fix", "variable"}
    assert first["severity"] == "CRITICAL" and first["object"] == "Deployment/observer"
    assert doc["counts"]["CRITICAL"] == sum(
        1 for f in doc["findings"] if f["severity"] == "CRITICAL"
    )


@needs_kubectl
def test_table_output_shows_what_happens_and_the_fix() -> None:
    out = io.StringIO()
    main(["--manifests", str(FIXTURES / "pvc-commented-out")], stdout=out)
    text = out.getvalue()
    assert "CRITICAL" in text and "observer-data-pvc" in text
    assert "  what " in text and "  fix " in text and "exit code 3" in text


def test_a_missing_manifests_path_is_a_usage_error_not_a_severity() -> None:
    err = io.StringIO()
    assert main(["--manifests", "/nonexistent/manifests"], stderr=err) == EXIT_USAGE
    assert "does not exist" in err.getvalue()
    assert main(["--bogus"], stderr=io.StringIO()) == EXIT_USAGE


def test_plain_yaml_is_read_without_kubectl() -> None:
    report = check_manifests(FIXTURES / "postgres-deployment", kubectl="")
    assert _has(report.findings, H, "kind", "")


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
        'ENTRYPOINT ["observer-daemon", "run"]\n'
    )
    image = parse_dockerfile(df)
    assert image.env == {"BASE": "/srv", "OBSERVER_DATA_DIR": "/srv/data", "LOG_LEVEL": "DEBUG"}
    assert image.workdir == "/srv/app" and image.user == "999:999"
    assert image.entrypoint == ["observer-daemon", "run"]


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


def test_live_doctor_passes_on_writable_directories(tmp_path: Path) -> None:
    env = {"OBSERVER_DATA_DIR": str(tmp_path / "data"), "OBSERVER_LOG_DIR": str(tmp_path / "l"),
           "OBSERVER_CONFIG_DIR": str(tmp_path), "OBSERVER_CONTAINER": "false"}  # fmt: skip
    for d in ("data", "data/snapshots", "data/.kis-token", "l", "l/system", "l/maintenance"):
        (tmp_path / d).mkdir(parents=True)
    out = io.StringIO()
    assert main([], stdout=out, environ=env) == 0, out.getvalue()


def test_live_doctor_names_the_variable_of_an_unusable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {"OBSERVER_DATA_DIR": str(blocker / "data"), "OBSERVER_LOG_DIR": str(tmp_path / "l"),
           "OBSERVER_CONTAINER": "false"}  # fmt: skip
    out = io.StringIO()
    assert main(["--json"], stdout=out, environ=env) == 3
    doc = json.loads(out.getvalue())
    assert any(f["variable"] == "OBSERVER_DATA_DIR" for f in doc["findings"])


def test_live_doctor_reports_a_setting_the_daemon_would_refuse() -> None:
    out = io.StringIO()
    assert main([], stdout=out, environ={"SERVICE_PORT": "many"}) == 3
    assert "SERVICE_PORT" in out.getvalue()


def test_the_table_never_cuts_a_path_across_lines() -> None:
    path = "/opt/platform/runtime/observer/data/backups/archives/20261120-160000-1a2b.tar.gz"
    f = Finding(
        Severity.WARNING, "Deployment/observer", "spec", f"the file {path} is odd.",
        f"move {path} to /var/lib/observer-backups/long-term-storage-and-more.",
    )  # fmt: skip
    table = to_table([f], source="test", width=60)
    lines = table.splitlines()
    assert any(path in line for line in lines)
    assert any("/var/lib/observer-backups/long-term-storage-and-more." in line for line in lines)
