"""What the activities need to reach the outside world, as one typed value.

Activities never read the environment: the caller (the worker) builds `ActivitySettings`
from its own configuration and passes it to `activities.build_activities`. The defaults are
those of the embedded stack: a file outbox instead of a mail server, no webhook, documents
on the local filesystem, all under the data directory ``.niva``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["DEFAULT_ORGANISATIONS_FILE", "ActivitySettings", "SmtpSecurity"]

DEFAULT_ORGANISATIONS_FILE = (
    Path(__file__).resolve().parents[1] / "process_models" / "reference" / "organisations.yaml"
)
"""The shipped organisations, found by path (activities never import process_models)."""

SmtpSecurity = Literal["starttls", "tls", "none"]
"""How the SMTP connection is protected: STARTTLS after connecting (submission, port 587),
implicit TLS from the first byte (port 465), or none (a relay on loopback only)."""

_Seconds = Annotated[float, Field(gt=0)]


class ActivitySettings(BaseModel):
    """Where the activities deliver messages, keep documents and record statistics.

    Email goes to the SMTP server when ``smtp_host`` is set, else into ``outbox_dir`` as one
    ``.eml`` file per message. Webhooks are sent when ``webhook_url`` is set. Documents go to
    the S3 bucket when ``s3_bucket`` is set, else under ``documents_dir``. Follow-up
    statistics go to the database at ``statistics_url`` when set, else ``statistics_file``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    organisations_file: Path = Field(
        default=DEFAULT_ORGANISATIONS_FILE,
        description="The organisations and their role addresses (YAML); default: the file "
        "shipped as process_models/reference/organisations.yaml.",
    )
    mail_from: str = Field(
        default="niva <no-reply@niva.example>",
        description="The From header of every notification.",
    )
    outbox_dir: Path = Field(
        default=Path(".niva/outbox"),
        description="The file outbox: one .eml file per message, used when smtp_host is not "
        "set (the embedded default).",
    )
    sent_log_dir: Path = Field(
        default=Path(".niva/sent-log"),
        description="The sent-log: one marker file per delivered message and channel. Every "
        "worker must see the same directory (a shared volume), or a retry on another worker "
        "sends again.",
    )
    documents_dir: Path = Field(
        default=Path(".niva/documents"),
        description="The filesystem document store, used when s3_bucket is not set.",
    )
    smtp_host: str | None = Field(
        default=None, description="The SMTP server; unset: write to the file outbox instead."
    )
    smtp_port: int = Field(
        default=587, ge=1, le=65535, description="The SMTP port (587 STARTTLS, 465 TLS)."
    )
    smtp_security: SmtpSecurity = Field(
        default="starttls",
        description="starttls (upgrade after connecting, required), tls (implicit TLS) or "
        "none (plain text: only for a relay on loopback).",
    )
    smtp_username: str | None = Field(
        default=None, description="The SMTP login; unset: send without authentication."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="The SMTP password, required with smtp_username."
    )
    smtp_timeout_seconds: _Seconds = Field(
        default=30.0, description="How long one SMTP command may take before it is retried."
    )
    webhook_url: str | None = Field(
        default=None,
        description="Where every notification is also POSTed as signed JSON; unset: off.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The HMAC-SHA256 key of the X-Niva-Signature header, required with "
        "webhook_url.",
    )
    webhook_timeout_seconds: _Seconds = Field(
        default=10.0, description="How long one webhook request may take."
    )
    s3_bucket: str | None = Field(
        default=None,
        description="The S3 bucket of the document store; unset: the filesystem store. "
        "Credentials follow boto3's own chain (AWS_* variables, profiles, instance roles).",
    )
    s3_prefix: str = Field(
        default="niva/documents/", description="The key prefix of every stored object."
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="An S3-compatible endpoint (MinIO, Ceph, …); unset: AWS itself.",
    )
    s3_region: str | None = Field(
        default=None, description="The bucket's region; unset: boto3's default."
    )
    statistics_file: Path = Field(
        default=Path(".niva/statistics.sqlite3"),
        description="The SQLite statistics store of the yearly follow-ups "
        "(record_follow_up), used when statistics_url is not set.",
    )
    statistics_url: SecretStr | None = Field(
        default=None,
        description="A SQLAlchemy URL of the statistics store instead of the SQLite file, "
        "e.g. postgresql+psycopg://user:password@host/niva; unset: the SQLite file.",
    )

    @model_validator(mode="after")
    def _pairs_complete(self) -> Self:
        # A half-configured channel would fail on the first message of some case; say so
        # when the worker starts instead.
        if self.smtp_username is not None and self.smtp_password is None:
            raise ValueError("smtp_username is set but smtp_password is not: set both")
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "webhook_url is set but webhook_secret is not: every webhook is signed"
            )
        return self

    @classmethod
    def in_data_dir(cls, data_dir: Path, **overrides: object) -> ActivitySettings:
        """Settings whose outbox, sent-log and documents live under ``data_dir``.

        Args:
            data_dir: the data directory (``NIVA_DATA_DIR``).
            overrides: any other field, by name.
        """
        values: dict[str, object] = {
            "outbox_dir": data_dir / "outbox",
            "sent_log_dir": data_dir / "sent-log",
            "documents_dir": data_dir / "documents",
            "statistics_file": data_dir / "statistics.sqlite3",
        }
        values.update(overrides)
        return cls.model_validate(values)
