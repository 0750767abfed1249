"""Where snapshots go: the restic repository named by the settings, and how restic reaches it.

Secrets (the repository password, the object-store keys) travel to restic only in its
environment (``RESTIC_PASSWORD``, ``AWS_*``) or through a password file, never on its
command line; :attr:`Repository.display` is the location with any userinfo removed, the
only form that appears in logs, status and errors.

With nothing configured the repository is ``./observer-runtime/backup-repo``: a local
directory outside the data directory, whose password is generated once into
``backup-repo.password`` (mode 0600) beside it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from observer.daemon.config import Config, is_local_repository
from observer.daemon.errors import ConfigError
from observer.daemon.segments import fsync_dir

PASSWORD_SUFFIX = ".password"
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def display_location(location: str) -> str:
    """``location`` without credentials embedded in a URL (``https://user:pw@host``)."""
    return _USERINFO.sub("", location)


@dataclass(frozen=True)
class Repository:
    """A resolved repository: what restic is told, and what may be shown."""

    location: str
    display: str
    local: bool
    #: Environment for restic (secrets included): RESTIC_REPOSITORY, password, keys.
    env: dict[str, str] = field(repr=False)
    #: ``-o`` options for the backend (region, path-style addressing); no secrets.
    options: tuple[str, ...] = ()
    #: Where the password came from: the setting or the generated file.
    password_source: str = "OBSERVER_REPO_PASSWORD"

    @property
    def path(self) -> Path | None:
        return Path(self.location) if self.local else None

    def secrets(self) -> list[str]:
        """Every secret value restic receives (to redact from anything it prints)."""
        keys = ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        out = [self.env[k] for k in keys if self.env.get(k)]
        pw_file = self.env.get("RESTIC_PASSWORD_FILE")
        if pw_file:
            with contextlib.suppress(OSError):
                out.append(Path(pw_file).read_text(encoding="utf-8").strip())
        return [s for s in out if s]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _existing_parent(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def on_same_volume(repository: Repository, data_dir: Path) -> bool:
    """True when a local repository sits on the data directory's filesystem (not off-volume)."""
    if repository.path is None:
        return False
    try:
        return (
            os.stat(_existing_parent(repository.path)).st_dev
            == os.stat(_existing_parent(data_dir)).st_dev
        )
    except OSError:
        return True


def _generated_password(repo: Path) -> Path:
    """The password file beside a local repository, created (0600) when the repo is new."""
    pw = repo.with_name(repo.name + PASSWORD_SUFFIX)
    if pw.is_file():
        return pw
    if (repo / "config").exists():
        raise ConfigError(
            f"the local repository {repo} exists but OBSERVER_REPO_PASSWORD is unset and its "
            f"password file {pw} is missing: set OBSERVER_REPO_PASSWORD to the repository's "
            "password (without it the snapshots in it cannot be read)."
        )
    pw.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(pw.parent)
    return pw


def resolve(cfg: Config) -> Repository:
    """The repository the settings name; ConfigError naming the setting when unusable."""
    location = cfg.backup_repository.strip()
    if not location:
        raise ConfigError(
            "OBSERVER_BACKUP_REPOSITORY is empty: set it to an s3: repository or a local "
            "directory outside OBSERVER_DATA_DIR (unset it for the default local repository)."
        )
    local = is_local_repository(location)
    env: dict[str, str] = {"RESTIC_REPOSITORY": location}
    options: list[str] = []
    source = "OBSERVER_REPO_PASSWORD"
    if local:
        repo = Path(location)
        if _inside(repo, cfg.data_dir) or _inside(cfg.data_dir, repo):
            raise ConfigError(
                f"OBSERVER_BACKUP_REPOSITORY={location} is inside (or contains) OBSERVER_DATA_DIR "
                f"{cfg.data_dir}: a backup on the volume it protects is lost with it. Choose a "
                "directory outside the data directory, or an s3: repository."
            )
        if cfg.backup_password:
            env["RESTIC_PASSWORD"] = cfg.backup_password
        else:
            pw = _generated_password(repo)
            env["RESTIC_PASSWORD_FILE"] = str(pw)
            source = str(pw)
    else:
        if not cfg.backup_password:
            raise ConfigError(
                f"OBSERVER_REPO_PASSWORD is not set, and the repository "
                f"{display_location(location)} is not local: set OBSERVER_REPO_PASSWORD "
                "(Secret observer-backup) to the repository's password."
            )
        env["RESTIC_PASSWORD"] = cfg.backup_password
    if location.startswith("s3:"):
        missing = [
            name
            for name, value in (
                ("OBSERVER_S3_ACCESS_KEY", cfg.backup_s3_access_key),
                ("OBSERVER_S3_SECRET_KEY", cfg.backup_s3_secret_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} not set for the s3 repository "
                f"{display_location(location)}: set both object-store keys (Secret observer-backup)."
            )
        env["AWS_ACCESS_KEY_ID"] = cfg.backup_s3_access_key
        env["AWS_SECRET_ACCESS_KEY"] = cfg.backup_s3_secret_key
        # Path-style addressing works with every S3-compatible store (OCI needs it).
        options.append("s3.bucket-lookup=path")
        if cfg.backup_s3_region:
            options.append(f"s3.region={cfg.backup_s3_region}")
    return Repository(
        location=location,
        display=display_location(location),
        local=local,
        env=env,
        options=tuple(options),
        password_source=source,
    )
