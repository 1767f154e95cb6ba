"""Deployments: validated, immutable, versioned process models.

A deployed model is identified by its process id and version: a counter per process id,
plus the SHA-256 of the file it came from. Deploying content identical to a deployed version
returns that version. The files of one process in one deployment are deployed in
``niva:versionTag`` order (``2019`` before ``2024``). A deployment is all or nothing: if any
file is invalid, nothing is stored and every problem of every file is reported.

`DeployLimits` bounds what a deployment accepts, before anything is read or stored: the
size of each file, the flow elements of each process, and the shortest timer cycle. A
model past them would deploy and then wedge every case (a 2 MB model cannot travel in a
case's first event).

Each version carries a snapshot of the reference data (`process_models.reference`) taken
when it was deployed, and its time zone, so a running case never sees data change under it.
The snapshot holds the entries the process's expressions read (all of them when an
expression reads ``reference`` other than by an entry's name).

Layout in the blob store::

    bpmn/<sha256>.bpmn                      the file, content-addressed
    models/<process_id>/<version>.json      one `DeployedModel` per version (write-once)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.calendars import with_snapshot
from process_models.errors import (
    BpmnReadError,
    DeploymentError,
    ModelInvalidError,
    ModelTooLargeError,
    Problem,
    UnknownModelError,
)
from process_models.limits import MIN_CYCLE_PERIOD
from process_models.reference import load_reference
from process_models.registry import Registry, default_registry
from process_models.schema import Definitions, Process
from process_models.store import BlobStore
from process_models.validation import executable_processes, reference_entries, validate

__all__ = [
    "DeployLimits",
    "DeployResult",
    "DeployedModel",
    "ModelFile",
    "ModelRef",
    "ModelSource",
    "ModelStore",
    "process_timezone",
    "version_tag_key",
]

_DEFAULT_ZONES = {"se_": "Europe/Stockholm", "no_": "Europe/Oslo"}
_MAX_CLAIM_ATTEMPTS = 20


def process_timezone(process: Process) -> str:
    """The zone of a process's dates: ``niva:timezone``, else by id prefix, else UTC."""
    if process.timezone:
        return process.timezone
    for prefix, zone in _DEFAULT_ZONES.items():
        if process.id.startswith(prefix):
            return zone
    return "UTC"


def version_tag_key(tag: str | None) -> tuple[tuple[int, int | str], ...]:
    """Sort key of version tags in natural order (``2`` < ``10``, ``2024`` < ``2024.1``).

    A file without a tag sorts before every tagged file of the same process.
    """
    if tag is None:
        return ()
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|[^\d.]+", tag)
    )


class DeployLimits(BaseModel):
    """What one deployment accepts (settings: ``starter.settings.ModelSettings``)."""

    model_config = ConfigDict(frozen=True)

    max_model_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="The largest BPMN file, in bytes (NIVA_MODELS_MAX_BYTES). Every case "
        "carries its model in its first event, which Temporal limits to 2 MB; a larger file "
        "is refused (413).",
    )
    max_elements: int = Field(
        default=5_000,
        ge=1,
        description="The most flow elements (events, tasks, gateways, subprocesses and "
        "sequence flows, at any depth) one process may have (NIVA_MODELS_MAX_ELEMENTS); a "
        "larger process is a validation problem (422).",
    )
    min_cycle_seconds: float = Field(
        default=MIN_CYCLE_PERIOD.total_seconds(),
        ge=1,
        description="The shortest period of a literal timeCycle, in seconds "
        "(NIVA_LIMITS_MIN_CYCLE_SECONDS); a shorter one is a validation problem (422).",
    )

    @property
    def min_cycle_period(self) -> timedelta:
        """`min_cycle_seconds` as a duration."""
        return timedelta(seconds=self.min_cycle_seconds)


class ModelFile(BaseModel):
    """A BPMN file to deploy: its name (for messages) and its bytes."""

    name: str
    content: bytes


class DeployedModel(BaseModel):
    """One immutable version of one process."""

    model_config = ConfigDict(frozen=True)

    process_id: str
    version: int = Field(ge=1)
    content_hash: str = Field(description="SHA-256 (hex) of the BPMN file.")
    name: str | None = Field(default=None, description="The process's name in the model.")
    version_tag: str | None = None
    timezone: str
    file_name: str
    deployed_at: datetime
    reference: dict[str, Any] = Field(
        default_factory=dict, description="Reference data snapshot, bound as `reference`."
    )

    @property
    def key(self) -> str:
        """``<process_id>/<version>``: how logs and messages name it."""
        return f"{self.process_id}/{self.version}"


class ModelRef(BaseModel):
    """A deployed version by process id and version (None: the latest)."""

    process_id: str
    version: int | None = None


class ModelSource(BaseModel):
    """A deployed version as a case carries it: the BPMN text and what it needs to run.

    A case receives this in its first event, so its history shows exactly what ran and a
    later deployment never changes a running case.
    """

    process_id: str
    version: int
    content_hash: str
    timezone: str
    bpmn: str
    name: str | None = None
    reference: dict[str, JsonValue] = Field(default_factory=dict)


class DeployResult(BaseModel):
    """What one process of a deployment became; ``created`` is False for identical content."""

    model: DeployedModel
    created: bool


class ModelStore:
    """The deployed models, in a `BlobStore` shared by the API and the workers."""

    def __init__(
        self,
        blobs: BlobStore,
        *,
        registry: Registry | None = None,
        reference: Callable[[], Mapping[str, Any]] = load_reference,
        limits: DeployLimits | None = None,
    ) -> None:
        self.blobs = blobs
        self.registry = registry or default_registry
        self._reference = reference
        self.limits = limits or DeployLimits()

    # --- reading ------------------------------------------------------------------------

    def process_ids(self) -> list[str]:
        """Every process id with at least one deployed version, sorted."""
        return sorted({key.split("/")[1] for key in self.blobs.list("models/")})

    def versions(self, process_id: str) -> list[DeployedModel]:
        """Every version of a process, oldest first (empty if none)."""
        models = [
            DeployedModel.model_validate_json(self.blobs.get(key))
            for key in self.blobs.list(f"models/{process_id}/")
            if key.endswith(".json")
        ]
        return sorted(models, key=lambda m: m.version)

    def latest(self) -> list[DeployedModel]:
        """The latest version of every process."""
        return [self.versions(pid)[-1] for pid in self.process_ids()]

    def get(self, process_id: str, version: int | None = None) -> DeployedModel:
        """A named version, or the latest; `UnknownModelError` says what exists."""
        versions = self.versions(process_id)
        if not versions:
            known = ", ".join(self.process_ids()) or "none"
            raise UnknownModelError(f"no process {process_id!r} is deployed (deployed: {known})")
        if version is None:
            return versions[-1]
        for model in versions:
            if model.version == version:
                return model
        raise UnknownModelError(
            f"process {process_id!r} has no version {version} "
            f"(versions 1 to {versions[-1].version})"
        )

    def bpmn(self, model: DeployedModel) -> bytes:
        """The exact file the version was deployed from."""
        return self.blobs.get(f"bpmn/{model.content_hash}.bpmn")

    def source(self, process_id: str, version: int | None = None) -> ModelSource:
        """What a case of that version (the latest by default) starts with."""
        model = self.get(process_id, version)
        return ModelSource(
            process_id=model.process_id,
            version=model.version,
            content_hash=model.content_hash,
            timezone=model.timezone,
            bpmn=_as_text(self.bpmn(model)),
            name=model.name,
            reference=model.reference,
        )

    def definitions(self, model: DeployedModel) -> Definitions:
        """The version's file, read."""
        return read_bpmn(self.bpmn(model))

    # --- deploying ------------------------------------------------------------------------

    def deploy(self, files: Sequence[ModelFile]) -> list[DeployResult]:
        """Validate every file, then store each executable process as a version.

        Raises:
            ModelTooLargeError: a file is larger than ``limits.max_model_bytes``; nothing
                was read or stored.
            ModelInvalidError: with every problem of every file; nothing was stored.
        """
        for file in files:
            self._check_size(file)
        read = self._read_and_validate(files)
        reference = dict(self._reference())
        planned = [
            (file, process, _entries_read(defs, process, reference, self.registry))
            for file, defs in read
            for process in executable_processes(defs)
        ]
        # Stable sort: per process, untagged first, then by tag; otherwise the given order.
        planned.sort(key=lambda fp: (fp[1].id, version_tag_key(fp[1].version_tag)))
        return [self._deploy_one(file, process, snapshot) for file, process, snapshot in planned]

    def _read_and_validate(self, files: Sequence[ModelFile]) -> list[tuple[ModelFile, Definitions]]:
        problems: list[Problem] = []
        read: list[tuple[ModelFile, Definitions]] = []
        for file in files:
            try:
                read.append((file, read_bpmn(file.content)))
            except BpmnReadError as exc:
                problems.append(exc.problem.model_copy(update={"file": file.name}))
        known = set(self.process_ids())
        known.update(p.id for _, defs in read for p in executable_processes(defs))
        for file, defs in read:
            found = validate(
                defs,
                registry=self.registry,
                known_processes=known,
                min_cycle_period=self.limits.min_cycle_period,
            )
            for process in executable_processes(defs):
                too_many = self._element_count(process)
                if too_many is not None:
                    found.append(too_many)
            problems.extend(p.model_copy(update={"file": file.name}) for p in found)
        if problems:
            raise ModelInvalidError(problems)
        return read

    def _check_size(self, file: ModelFile) -> None:
        size, limit = len(file.content), self.limits.max_model_bytes
        if size > limit:
            raise ModelTooLargeError(
                f"{file.name} is {size:,} bytes, more than the {limit:,} a deployment accepts "
                "(setting NIVA_MODELS_MAX_BYTES): every case carries its model, and Temporal "
                "limits what a case's first event may hold; split the process with call "
                "activities",
                file=file.name,
                size=size,
                limit=limit,
            )

    def _element_count(self, process: Process) -> Problem | None:
        count = sum(1 for _ in process.all_nodes()) + sum(1 for _ in process.all_flows())
        limit = self.limits.max_elements
        if count <= limit:
            return None
        return Problem(
            message=f"the process has {count:,} flow elements, more than the {limit:,} a "
            "deployment accepts (setting NIVA_MODELS_MAX_ELEMENTS); split it with call "
            "activities",
            element_id=process.id,
            line=process.line,
        )

    def _deploy_one(
        self, file: ModelFile, process: Process, reference: Mapping[str, Any]
    ) -> DeployResult:
        digest = hashlib.sha256(file.content).hexdigest()
        self.blobs.put_if_absent(f"bpmn/{digest}.bpmn", file.content)
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            versions = self.versions(process.id)
            for existing in versions:
                if existing.content_hash == digest:
                    return DeployResult(model=existing, created=False)
            model = DeployedModel(
                process_id=process.id,
                version=(versions[-1].version + 1) if versions else 1,
                content_hash=digest,
                name=process.name,
                version_tag=process.version_tag,
                timezone=process_timezone(process),
                file_name=file.name,
                deployed_at=datetime.now(UTC),
                reference=with_snapshot(reference, process.calendar, datetime.now(UTC).year),
            )
            # The version file is the claim: of two concurrent deployers one wins it, the
            # other reads the versions again and takes the next number.
            key = f"models/{process.id}/{model.version}.json"
            if self.blobs.put_if_absent(key, model.model_dump_json().encode()):
                return DeployResult(model=model, created=True)
        raise DeploymentError(
            f"could not claim a version of {process.id!r} after {_MAX_CLAIM_ATTEMPTS} tries: "
            "too many concurrent deployments"
        )


def _entries_read(
    defs: Definitions, process: Process, reference: Mapping[str, Any], registry: Registry
) -> dict[str, Any]:
    """The part of the reference data that the process's expressions read.

    Every case carries its version's snapshot in its first event, so a snapshot of entries
    no expression reads (the whole list of organisations, for a model that never looks an
    organisation up) would cost every case's history and every cached case's memory.
    """
    entries = reference_entries(defs, process, registry=registry)
    return {k: v for k, v in reference.items() if entries is None or k in entries}


def _as_text(content: bytes) -> str:
    """The file as text for a case's input: as is when it is UTF-8 (every shipped model),
    else re-written as UTF-8, since a JSON payload cannot carry other encodings."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return write_bpmn(read_bpmn(content)).decode("utf-8")
