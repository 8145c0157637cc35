"""Settings (environment variables + an optional TOML file) and the feed list.

Precedence, lowest to highest: defaults, the `[newspipe]` table of the TOML file,
`NEWSPIPE_*` environment variables, explicit command-line options.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from newspipe.models import FeedRole, FeedSpec

DEFAULT_DATABASE_URL = "sqlite:///newspipe.db"
DEFAULT_USER_AGENT = "newspipe/0.1 (+https://github.com/newspipe/newspipe)"


class ConfigError(ValueError):
    """A configuration file or value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    user_agent: str = DEFAULT_USER_AGENT
    # Hosts resolving to loopback/private addresses are refused unless listed here.
    allow_private_hosts: tuple[str, ...] = ()
    timeout_seconds: float = 20.0
    max_body_bytes: int = 10 * 1024 * 1024
    archive_dir: str = "archive"
    # Fetching (issue 3): politeness and hardening knobs, see fetch/http.py.
    connect_timeout_seconds: float = 10.0
    total_timeout_seconds: float = 60.0  # one request, headers to last byte
    max_redirects: int = 5
    max_connections: int = 64
    per_host_concurrency: int = 2
    per_host_delay_seconds: float = 1.0  # minimum gap between requests to one host
    retries: int = 2  # transient errors only (connect errors, timeouts, 429, 5xx)
    retry_backoff_seconds: float = 1.0  # doubled per attempt, plus jitter
    max_retry_after_seconds: float = 30.0  # a longer Retry-After defers the feed instead
    obey_robots: bool = True
    robots_cache_seconds: float = 3600.0
    feed_backoff_seconds: float = 300.0  # after a failure; doubled per consecutive failure
    feed_max_backoff_seconds: float = 86400.0
    pause_after_failures: int = 10
    archive_max_bytes: int = 1024 * 1024 * 1024  # start a new WARC file past this size
    retention_days: int = 30
    # De-duplication (see dedup.engine.DedupSettings for what each one does).
    dedup_candidate_threshold: float = 0.3
    dedup_jaccard_threshold: float = 0.5
    dedup_containment_threshold: float = 0.7
    dedup_false_positive_weight: float = 0.5
    dedup_false_negative_weight: float = 0.5
    # Criteria in order: role (original, then wire), earliest (published), longest (text).
    canonical_policy: tuple[str, ...] = ("role", "earliest", "longest")
    feeds: tuple[FeedSpec, ...] = field(default_factory=tuple)


_ENV_PREFIX = "NEWSPIPE_"


def _coerce(name: str, value: object) -> object:
    """Turn a TOML/env value into the type the Settings field wants."""
    default = getattr(Settings(), name)
    if isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(value)  # type: ignore[arg-type]
    if isinstance(default, bool) and isinstance(value, str):  # bool("false") is True
        if value.strip().lower() not in {"1", "0", "true", "false", "yes", "no"}:
            raise ConfigError(f"setting {name!r}: {value!r} is not true or false")
        return value.strip().lower() in {"1", "true", "yes"}
    try:
        return type(default)(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from None


def _settings_fields() -> set[str]:
    return {f.name for f in fields(Settings)} - {"feeds"}


def parse_feeds(items: list[dict], base: str | None = None) -> tuple[FeedSpec, ...]:
    """Validate `[[feeds]]` tables. `{{base}}` in a URL is replaced by `base` (fixtures)."""
    specs = []
    for number, item in enumerate(items, start=1):
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"feed #{number}: 'url' is required")
        if base is not None:
            url = url.replace("{{base}}", base)
        role = item.get("role", FeedRole.OUTLET.value)
        try:
            role = FeedRole(role)
        except ValueError:
            allowed = ", ".join(r.value for r in FeedRole)
            raise ConfigError(f"feed {url}: role {role!r} is not one of {allowed}") from None
        specs.append(FeedSpec(url=url, name=item.get("name") or url, role=role))
    return tuple(specs)


def load_settings(
    config_file: str | os.PathLike | None = None,
    *,
    database_url: str | None = None,
    base: str | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    feeds: tuple[FeedSpec, ...] = ()
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        section = data.get("newspipe", {})
        unknown = set(section) - _settings_fields()
        if unknown:
            raise ConfigError(f"config file {path}: unknown settings {sorted(unknown)}")
        values.update({k: _coerce(k, v) for k, v in section.items()})
        feeds = parse_feeds(data.get("feeds", []), base=base)
    for name in _settings_fields():
        if (raw := env.get(_ENV_PREFIX + name.upper())) is not None:
            values[name] = _coerce(name, raw)
    if database_url:
        values["database_url"] = database_url
    return replace(Settings(), feeds=feeds, **values)
