"""niva's configuration: one settings class per subsystem, each with its own prefix.

Configuration enters here and nowhere else. Every field documents its default; the
environment (or a ``.env`` file in the working directory) overrides it:

- ``NIVA_DATA_*``   where niva keeps its files (`DataSettings`)
- ``NIVA_SERVICE_*`` the outside services of the activities: SMTP, webhooks, S3
  (`ServiceSettings`, the fields of `activities.settings.ActivitySettings`)
- ``NIVA_LOG_*``    logging (`LogSettings`)
- ``NIVA_WORKER_*`` the Temporal worker (`WorkerSettings`)
- ``NIVA_LIMITS_*`` what one case may hold and do (`LimitSettings`)
- ``NIVA_API_*``    the HTTP API (`ApiSettings`)
- ``NIVA_MODELS_*`` what a deployment accepts (`ModelSettings`)
- ``NIVA_DEV_*``    the embedded stack of ``niva dev`` (`DevSettings`)
- ``NIVA_CODEC_*``  optional payload encryption (`CodecSettings`)

The Temporal connection itself is not configured here: it follows Temporal's own
``TEMPORAL_*`` variables and ``temporalio.envconfig`` profiles (see `worker.connect`),
so the same environment works for the ``temporal`` CLI and for niva.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.settings import ActivitySettings
from process_models.deployments import DeployLimits
from process_models.limits import EngineLimits
from service_contract import JOBS_TASK_QUEUE, JobRouting
from workflows.publication import PublishMessageInput

__all__ = [
    "ApiSettings",
    "CodecSettings",
    "DataSettings",
    "DevSettings",
    "LimitSettings",
    "LogSettings",
    "ModelSettings",
    "Port",
    "ServiceSettings",
    "WorkerSettings",
    "ensure_writable_dir",
]

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port number."""


_PUBLICATION_FIELDS = PublishMessageInput.model_fields
"""The defaults of a publication's polling, set where the workflow reads them."""


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it is writable, or raise `ValueError`.

    Creating and removing a probe file is the only reliable test: ``os.access`` says yes
    to root on a read-only mount, and a missing directory says nothing about its parent.
    """
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(
            f"data directory {path} is not writable ({exc.strerror or exc}); "
            "choose another one with --data-dir or NIVA_DATA_DIR"
        ) from exc
    return path


class _NivaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", validate_default=True)


class DataSettings(_NivaSettings):
    """Where niva keeps its files; shared by ``niva dev``, the worker and the API."""

    model_config = SettingsConfigDict(env_prefix="NIVA_DATA_")

    dir: Path = Field(
        default=Path(".niva"),
        description="The data directory: the embedded Temporal database, logs, the model "
        "store (models/) and documents. Running again on the same directory keeps every "
        "case.",
    )

    @field_validator("dir")
    @classmethod
    def _writable(cls, value: Path) -> Path:
        return ensure_writable_dir(value)

    @property
    def models_dir(self) -> Path:
        """The model store."""
        return self.dir / "models"


class ServiceSettings(_NivaSettings, ActivitySettings):
    """The activities' outside services, read from ``NIVA_SERVICE_<FIELD>``.

    Every field of `activities.settings.ActivitySettings` (``NIVA_SERVICE_SMTP_HOST``,
    ``NIVA_SERVICE_SMTP_PASSWORD``, ``NIVA_SERVICE_WEBHOOK_URL``, ``NIVA_SERVICE_S3_BUCKET``,
    …); the outbox, sent-log and documents default to folders of the data directory.
    The statistics store's URL is also read from ``NIVA_STATS_URL``, its documented name.
    """

    model_config = SettingsConfigDict(
        env_prefix="NIVA_SERVICE_", extra="forbid", validate_by_name=True
    )

    # An alias ignores env_prefix, so both variable names are spelled out; the first one set
    # wins. validate_by_name keeps ServiceSettings(statistics_url=...) working.
    statistics_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NIVA_STATS_URL", "NIVA_SERVICE_STATISTICS_URL"),
        description="A SQLAlchemy URL of the statistics store instead of the SQLite file, "
        "e.g. postgresql+psycopg://user:password@host/niva (NIVA_STATS_URL, or "
        "NIVA_SERVICE_STATISTICS_URL); unset: the SQLite file in the data directory.",
    )

    def for_data_dir(self, data: DataSettings) -> ActivitySettings:
        """The activities' settings: what was configured, the rest under the data dir."""
        configured = self.model_dump(exclude_unset=True)
        return ActivitySettings.in_data_dir(data.dir, **configured)


class LogSettings(_NivaSettings):
    """How niva logs (structlog)."""

    model_config = SettingsConfigDict(env_prefix="NIVA_LOG_")

    format: Literal["console", "json"] = Field(
        default="console",
        description="'console' for people (the default for development), 'json' for "
        "log collectors in production.",
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The lowest level that is logged."
    )


class WorkerSettings(_NivaSettings):
    """The Temporal worker that runs process instances and their activities."""

    model_config = SettingsConfigDict(env_prefix="NIVA_WORKER_")

    task_queue: str = Field(
        default="niva", min_length=1, description="The task queue the worker polls."
    )
    graceful_shutdown_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long running activities may finish after a shutdown request.",
    )
    max_concurrent_activities: int = Field(
        default=100, ge=1, description="Activities one worker runs at the same time."
    )
    archive_histories: bool = Field(
        default=True,
        description="Archive the history of every closed run into the document store, so "
        "audits outlive the namespace's retention. Idempotent: several workers may do it.",
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Serve Temporal's worker metrics (task latencies, polls, slots, cache) "
        "for Prometheus on http://<metrics_host>:<port>/metrics. Unset: no endpoint.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the metrics endpoint; 0.0.0.0 lets a Prometheus on "
        "another host scrape it.",
    )
    jobs_task_queue: str = Field(
        default=JOBS_TASK_QUEUE,
        min_length=1,
        description="The task queue of job workers: a service task whose type niva does not "
        "implement runs as an activity of that name there. Read where cases start (API, "
        "CLI, schedules); a case keeps the queue it started with.",
    )
    jobs_schedule_to_start_seconds: float | None = Field(
        default=None,
        gt=0,
        description="A job no worker has taken this long becomes an incident on its task. "
        "Unset: the job waits for a worker (a pending activity in the Web UI), as in Zeebe.",
    )

    def job_routing(self, niva_types: Iterable[str]) -> JobRouting:
        """Where a case started now sends its jobs; ``niva_types`` are the registered task
        types (niva's own worker runs them)."""
        return JobRouting.for_registered(
            niva_types,
            task_queue=self.jobs_task_queue,
            schedule_to_start_seconds=self.jobs_schedule_to_start_seconds,
        )

    @property
    def metrics_bind_address(self) -> str | None:
        """``host:port`` of the metrics endpoint, or ``None`` when it is off."""
        if self.metrics_port is None:
            return None
        host = f"[{self.metrics_host}]" if ":" in self.metrics_host else self.metrics_host
        return f"{host}:{self.metrics_port}"


class LimitSettings(_NivaSettings, EngineLimits):
    """What one case may hold and do, read from ``NIVA_LIMITS_<FIELD>``: every field of
    `process_models.limits.EngineLimits` (``NIVA_LIMITS_MAX_MULTI_INSTANCE``,
    ``NIVA_LIMITS_MAX_VARIABLES_BYTES``, ``NIVA_LIMITS_MIN_CYCLE_SECONDS``, …), with its
    defaults. A case keeps the limits it was started with."""

    model_config = SettingsConfigDict(env_prefix="NIVA_LIMITS_")

    def engine_limits(self) -> EngineLimits:
        """These limits as a case carries them in its start input."""
        return EngineLimits.model_validate(self.model_dump())


class ApiSettings(_NivaSettings):
    """The back-office HTTP API."""

    model_config = SettingsConfigDict(env_prefix="NIVA_API_")

    host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    public_url: str | None = Field(
        default=None,
        description="The API's address as operators reach it (e.g. https://niva.example.org):"
        " cases started through it link their current details in the Web UI to their diagram "
        "page. `niva dev` sets it to its own API.",
    )
    port: Port = Field(default=8000, description="TCP port of the API.")
    tokens_file: Path | None = Field(
        default=None,
        description="A JSON or YAML file mapping bearer tokens to principals. Unset: "
        "`niva dev` writes one with the demo principals under its data directory.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="OIDC: the identity provider's JWKS URL. Set, bearer tokens are JWTs "
        "checked against its keys (and `issuer`, `audience`) instead of the tokens file.",
    )
    issuer: str | None = Field(
        default=None, description="OIDC: the required `iss` claim (needed with jwks_url)."
    )
    audience: str | None = Field(
        default=None, description="OIDC: the required `aud` claim (needed with jwks_url)."
    )
    org_claim: str = Field(
        default="org",
        description="OIDC: the claim holding the principal's organisation id (SE-AB, "
        "NO-HSO); a dotted path reaches into nested claims.",
    )
    roles_claim: str = Field(
        default="roles",
        description="OIDC: the claim holding the principal's roles, a list or a "
        "space-separated string; a dotted path (realm_access.roles) reaches into nested "
        "claims.",
    )
    agency_orgs: list[str] = Field(
        default=["SE-SOS", "NO-HDIR"],
        description="Organisations that read every case (the agencies running the "
        "processes); others read the cases they take part in.",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="The largest attachment or BPMN file a request may upload, in bytes.",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="The largest body of any other request (JSON: a start, a completion, "
        "a message), in bytes; a larger one is refused with 413 before it is read.",
    )
    max_json_depth: int = Field(
        default=64,
        ge=2,
        description="How deeply a JSON body may nest objects and arrays; a deeper one is "
        "refused with 400 before it is parsed.",
    )
    query_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a case may take to answer a query (its state, its open "
        "tasks) before the request fails with 503.",
    )
    update_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a case may take to accept or reject a request (a task "
        "completion, a message) before the request fails with 503; a repeat with the same "
        "idempotency key is safe.",
    )
    busy_retries: int = Field(
        default=3,
        ge=0,
        description="How often a request is retried, with backoff, when Temporal answers "
        "that it is busy (resource exhausted), before the API answers 429.",
    )
    message_poll_initial_seconds: float = Field(
        default=_PUBLICATION_FIELDS["poll_initial_seconds"].default,
        gt=0,
        description="A message published with a ttl that no case waited for looks for a "
        "subscriber again after this many seconds, then after twice as long each time.",
    )
    message_poll_max_seconds: float = Field(
        default=_PUBLICATION_FIELDS["poll_max_seconds"].default,
        gt=0,
        description="The longest wait, in seconds, between two looks of a buffered message "
        "for a subscriber: shorter delivers sooner after a case subscribes, longer queries "
        "Temporal's visibility less often per buffered message.",
    )


class ModelSettings(_NivaSettings):
    """What a deployment accepts (API and ``niva models deploy --local``)."""

    model_config = SettingsConfigDict(env_prefix="NIVA_MODELS_")

    max_bytes: int = Field(
        default=DeployLimits().max_model_bytes,
        ge=1,
        description="The largest BPMN file a deployment accepts, in bytes; a larger one is "
        "refused (413). Every case carries its model, within Temporal's 2 MB per payload.",
    )
    max_elements: int = Field(
        default=DeployLimits().max_elements,
        ge=1,
        description="The most flow elements (nodes and sequence flows, at any depth) one "
        "process may have; a larger one is a validation problem (422).",
    )
    max_files: int = Field(
        default=DeployLimits().max_files,
        ge=1,
        description="The most files (BPMN and Camunda Forms) one deployment may hold; more "
        "are refused (413).",
    )

    def deploy_limits(self, *, min_cycle_seconds: float | None = None) -> DeployLimits:
        """These limits for the model store, with the engine's minimum timer cycle
        (``NIVA_LIMITS_MIN_CYCLE_SECONDS`` unless given)."""
        if min_cycle_seconds is None:
            min_cycle_seconds = LimitSettings().min_cycle_seconds
        return DeployLimits(
            max_model_bytes=self.max_bytes,
            max_elements=self.max_elements,
            min_cycle_seconds=min_cycle_seconds,
            max_files=self.max_files,
        )


class DevSettings(_NivaSettings):
    """The embedded stack started by ``niva dev``: Temporal dev server, worker and API."""

    model_config = SettingsConfigDict(env_prefix="NIVA_DEV_")

    ip: str = Field(default="127.0.0.1", description="Interface of the Temporal server and UI.")
    temporal_port: Port = Field(default=7233, description="gRPC port of the Temporal server.")
    ui_port: Port = Field(default=8233, description="Port of the Temporal Web UI.")
    api_port: Port = Field(default=8000, description="Port of niva's HTTP API.")
    retention_days: int = Field(
        default=36500,
        ge=1,
        description="History retention of the namespace; the dev server's own default is "
        "one day, far too short for cases that run for years.",
    )
    demo: bool = Field(
        default=True,
        description="Start the demo cases (the nine first-round Swedish care areas at "
        "different stages) once the stack is up; existing ones are kept.",
    )
    startup_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long each component may take to become healthy."
    )


class CodecSettings(_NivaSettings):
    """Optional encryption of every payload Temporal stores (`starter.codec`)."""

    model_config = SettingsConfigDict(env_prefix="NIVA_CODEC_")

    keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Key id -> AES key (base64 of 32 random bytes), as a JSON object, "
        'e.g. {"2025-01": "…", "2026-01": "…"}. Empty: payloads are not encrypted. '
        "Keep every key some history still needs: payloads name the key they used.",
    )
    encrypt_with: str | None = Field(
        default=None,
        description="The id of the key new payloads are encrypted with; default: the last "
        "(newest) key listed.",
    )
    server_host: str = Field(
        default="127.0.0.1", description="Interface of the codec server for the Web UI."
    )
    server_port: Port = Field(default=8234, description="Port of the codec server.")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"],
        description="Origins (the Temporal Web UI) allowed to call the codec server.",
    )
