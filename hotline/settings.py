"""Settings: ``config/hotline.toml`` with environment variables on top.

Every key of the file may be overridden by ``HOTLINE_<KEY>``; a test or an
embedding program may pass overrides to ``create_app`` as well. An unknown key
or a value of the wrong type stops start-up with a message naming the key.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from hotline.domain.strict_schema import first_error
from hotline.settings_schema import RequiredSettings, environment_schema, overrides_schema

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the ``hotline`` package: the repository in a source
checkout or an editable install, ``site-packages`` in an installed one."""


def _shipped_folder(package: str, folder: str) -> Path:
    """Where the repository's top-level ``folder`` is, installed as ``package``.

    setup.cfg ships ``config/`` as ``hotline._defaults`` and ``migrations/`` as
    ``hotline._migrations``; without an install that maps them (a source
    checkout on ``PYTHONPATH``) they are read from the repository itself.
    """
    try:
        found = resources.files(package)
    except ModuleNotFoundError:
        return PROJECT_ROOT / folder
    return found if isinstance(found, Path) else PROJECT_ROOT / folder


CONFIG_DIR = _shipped_folder("hotline._defaults", "config")
"""The shipped ``config/`` folder: the default settings and time-limit policy."""
MIGRATIONS_DIR = _shipped_folder("hotline._migrations", "migrations")
"""The shipped ``migrations/`` folder (Alembic's script location)."""
DEFAULT_CONFIG = CONFIG_DIR / "hotline.toml"
"""The settings file read when ``HOTLINE_CONFIG`` names none."""
DEFAULT_TIME_LIMITS = CONFIG_DIR / "time_limits.toml"
"""The shipped time-limit policy."""

_SHIPPED_FOLDERS = {"config": CONFIG_DIR, "migrations": MIGRATIONS_DIR}


class SettingsError(Exception):
    """The settings cannot be used; the message names the key."""


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def _checked(schema: Schema, data: Mapping[str, Any], problem: str) -> dict[str, Any]:
    """``data`` loaded by ``schema``; ``problem`` words the first fault from its
    ``{key}`` and ``{message}``."""
    try:
        return schema.load(data)
    except ValidationError as error:
        where, message = first_error(error.messages)
        if not where:  # the data as a whole, e.g. overrides that are not a mapping
            raise SettingsError(message) from None
        raise SettingsError(problem.format(key=where[0], message=message)) from None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The settings: the file's defaults, then ``HOTLINE_*`` variables, then ``overrides``.

    Raises :class:`SettingsError` naming the key for an unknown key or a bad value.
    """
    path = path or Path(os.environ.get("HOTLINE_CONFIG", DEFAULT_CONFIG))
    settings = _read(path)
    environ = os.environ if environ is None else environ
    settings.update(_checked(environment_schema(settings), environ, "{key}: {message}"))
    settings.update(
        _checked(overrides_schema(settings), overrides or {}, "unknown setting '{key}'")
    )
    _checked(RequiredSettings(), settings, "setting '{key}' {message}")
    return settings


def shipped_path(value: str | Path) -> Path:
    """Where the shipped copy of a repository-relative path is, e.g.
    ``config/time_limits.toml`` or ``callflows/scripts`` (it need not exist)."""
    path = Path(value)
    if path.parts and path.parts[0] in _SHIPPED_FOLDERS:
        return _SHIPPED_FOLDERS[path.parts[0]].joinpath(*path.parts[1:])
    return PROJECT_ROOT / path


def resolve_path(value: str) -> Path:
    """A configured path: absolute as given; a relative one in the working directory.

    When nothing is at a relative path in the working directory and it names a
    file the product ships (``config/time_limits.toml``, ``callflows/scripts``),
    the shipped copy is used: in the repository, or in the installed package.
    Otherwise the path in the working directory is returned, so a message about
    a missing file names the place the setting points to.
    """
    path = Path(value)
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    if here.exists():
        return here
    shipped = shipped_path(path)
    return shipped if shipped.exists() else here


def _generated_key(instance: Path, name: str) -> str:
    """The key kept in file ``name`` of the instance folder, generated there the first time."""
    instance.mkdir(parents=True, exist_ok=True)
    keyfile = instance / name
    if not keyfile.exists():
        keyfile.write_text(secrets.token_hex(32))
        keyfile.chmod(0o600)
    return keyfile.read_text().strip()


def secret_key(settings: Mapping[str, Any], instance: Path) -> str:
    """The configured secret key, or one generated once and kept in the instance folder."""
    if settings.get("secret_key"):
        return str(settings["secret_key"])
    return _generated_key(instance, "secret_key")


#: The shortest audit key accepted (a generated one has 64 hex digits).
AUDIT_KEY_MIN_LENGTH = 32


def audit_key(settings: Mapping[str, Any], instance: Path) -> str:
    """The key that seals the case history's anchors (docs/audit.md).

    The ``audit_key`` setting (best given as ``HOTLINE_AUDIT_KEY`` from a secret
    store), else one generated once and kept in ``audit_key`` in the instance
    folder. It must never be stored in the database it protects.
    """
    configured = str(settings.get("audit_key") or "")
    if configured:
        if len(configured) < AUDIT_KEY_MIN_LENGTH:
            raise SettingsError(
                f"setting 'audit_key' must be at least {AUDIT_KEY_MIN_LENGTH} characters"
            )
        return configured
    return _generated_key(instance, "audit_key")
