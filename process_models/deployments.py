"""Deployments: validated, immutable, versioned process models.

A deployed model is identified by its process id and version: a counter per process id,
plus the SHA-256 of the file it came from. Deploying content identical to a deployed version
returns that version. The files of one process in one deployment are deployed in
``niva:versionTag`` order (``2019`` before ``2024``). A deployment is all or nothing: if any
file is invalid, nothing is stored and every problem of every file is reported.

A deployment may hold Camunda Forms (``.form`` files, `process_models.camunda_forms`) beside
its BPMN files. A form is versioned like a process (by its form id; identical content keeps
its version). A user task's ``formId`` must name a form of the same deployment or one
deployed before; the version it resolves to is kept with the process version
(`DeployedModel.forms`), so a case always checks its tasks against the form it started with.
A process version is identical to a deployed one when its file and its forms' and
decisions' versions are.

DMN decisions (``.dmn`` files, `process_models.dmn`) deploy the same way: each decision of a
file is versioned by its decision id (a file whose content is already a version of it keeps
that version); a business rule task's ``decisionId`` must name a decision of the deployment
or one deployed before, and the version it resolves to is kept with the process version
(`DeployedModel.decisions`); a case carries the DMN files of its decisions.

`DeployLimits` bounds what a deployment accepts, before anything is read or stored: the
number of files, the size of each file (and of a process with the forms and decisions it
names), the flow elements of each process, and the shortest timer cycle. A model past them
would deploy and then wedge every case (a 2 MB model cannot travel in a case's first event).

Each version carries a snapshot of the reference data (`process_models.reference`) taken
when it was deployed, and its time zone, so a running case never sees data change under it.
The snapshot holds the entries the process's expressions read (all of them when an
expression reads ``reference`` other than by an entry's name).

Layout in the blob store::

    bpmn/<sha256>.bpmn                      the file, content-addressed
    models/<process_id>/<version>.json      one `DeployedModel` per version (write-once)
    forms/<sha256>.form                     a Camunda Form, content-addressed
    form-versions/<form_id>/<version>.json  one `DeployedForm` per version (write-once)
    dmn/<sha256>.dmn                        a DMN file, content-addressed
    decision-versions/<decision_id>/<version>.json
                                            one `DeployedDecision` per version (write-once)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.calendars import with_snapshot
from process_models.camunda_forms import CamundaForm, read_form
from process_models.dmn import DmnDefinitions, read_dmn
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
from process_models.schema import Definitions, FlowNode, Process
from process_models.store import BlobStore
from process_models.validation import check_model, executable_processes, reference_entries

__all__ = [
    "Companions",
    "DecisionBinding",
    "DecisionDeployResult",
    "DeployLimits",
    "DeployResult",
    "DeployedDecision",
    "DeployedForm",
    "DeployedModel",
    "Deployment",
    "FormBinding",
    "FormDeployResult",
    "ModelFile",
    "ModelRef",
    "ModelSource",
    "ModelStore",
    "embedded_form_problems",
    "process_timezone",
    "read_companions",
    "version_tag_key",
]

_DEFAULT_ZONES = {"se_": "Europe/Stockholm", "no_": "Europe/Oslo"}
_MAX_CLAIM_ATTEMPTS = 20
_FORM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
"""A form or decision id that can name a folder of the store (`read_form` accepts no
other form id; a decision id that cannot is refused when its file is read)."""


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
    max_files: int = Field(
        default=50,
        ge=1,
        description="The most files (BPMN and forms) one deployment may hold "
        "(NIVA_MODELS_MAX_FILES); more are refused (413).",
    )

    @property
    def min_cycle_period(self) -> timedelta:
        """`min_cycle_seconds` as a duration."""
        return timedelta(seconds=self.min_cycle_seconds)


class ModelFile(BaseModel):
    """A file to deploy: its name (for messages; ``.form`` marks a Camunda Form, ``.dmn`` a
    decision, anything else is read as BPMN) and its bytes."""

    name: str
    content: bytes

    @property
    def kind(self) -> str:
        """``form``, ``dmn`` or ``bpmn``, by the name's extension."""
        lower = self.name.lower()
        if lower.endswith(".form"):
            return "form"
        if lower.endswith(".dmn"):
            return "dmn"
        return "bpmn"


class FormBinding(BaseModel):
    """The version of a Camunda Form a process version uses."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    content_hash: str = Field(description="SHA-256 (hex) of the .form file.")


class DecisionBinding(BaseModel):
    """The version of a DMN decision a process version uses."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    content_hash: str = Field(description="SHA-256 (hex) of the .dmn file.")


class DeployedDecision(BaseModel):
    """One immutable version of one DMN decision (of the file it came from)."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    version: int = Field(ge=1)
    content_hash: str = Field(description="SHA-256 (hex) of the .dmn file.")
    name: str | None = None
    file_name: str
    deployed_at: datetime

    @property
    def binding(self) -> DecisionBinding:
        """How a process version refers to this decision version."""
        return DecisionBinding(version=self.version, content_hash=self.content_hash)


class DeployedForm(BaseModel):
    """One immutable version of one Camunda Form."""

    model_config = ConfigDict(frozen=True)

    form_id: str
    version: int = Field(ge=1)
    content_hash: str = Field(description="SHA-256 (hex) of the .form file.")
    file_name: str
    deployed_at: datetime

    @property
    def binding(self) -> FormBinding:
        """How a process version refers to this form version."""
        return FormBinding(version=self.version, content_hash=self.content_hash)


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
    forms: dict[str, FormBinding] = Field(
        default_factory=dict,
        description="The Camunda Forms its user tasks name (formId), by form id: the "
        "versions they resolved to when it was deployed.",
    )
    decisions: dict[str, DecisionBinding] = Field(
        default_factory=dict,
        description="The DMN decisions its business rule tasks call (decisionId), by "
        "decision id: the versions they resolved to when it was deployed.",
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
    forms: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The Camunda Forms its user tasks name, by form id, as deployed (JSON).",
    )
    decisions: dict[str, str] = Field(
        default_factory=dict,
        description="The DMN decisions its business rule tasks call, by decision id: the "
        "text of the .dmn file each was deployed from.",
    )


class DeployResult(BaseModel):
    """What one process of a deployment became; ``created`` is False for identical content."""

    model: DeployedModel
    created: bool
    warnings: list[Problem] = Field(
        default_factory=list,
        description="What validation warns of in the file the process came from "
        "(`process_models.validation.check_model`); they never refuse a deployment.",
    )


class FormDeployResult(BaseModel):
    """What one form of a deployment became; ``created`` is False for identical content."""

    form: DeployedForm
    created: bool


class DecisionDeployResult(BaseModel):
    """What one decision of a deployment became; ``created`` is False for identical content."""

    decision: DeployedDecision
    created: bool


class Deployment(BaseModel):
    """Everything one deployment stored: its processes, forms and decisions."""

    processes: list[DeployResult]
    forms: list[FormDeployResult]
    decisions: list[DecisionDeployResult] = Field(default_factory=list)


class _Versioned(Protocol):
    """A stored version of a form or a decision."""

    @property
    def version(self) -> int: ...

    @property
    def content_hash(self) -> str: ...

    def model_dump_json(self) -> str: ...


_V = TypeVar("_V", bound=_Versioned)


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
            forms={
                form_id: json.loads(self.form_file(binding))
                for form_id, binding in model.forms.items()
            },
            decisions={
                decision_id: self.dmn_file(binding).decode("utf-8")
                for decision_id, binding in model.decisions.items()
            },
        )

    def definitions(self, model: DeployedModel) -> Definitions:
        """The version's file, read."""
        return read_bpmn(self.bpmn(model))

    def form_versions(self, form_id: str) -> list[DeployedForm]:
        """Every version of a Camunda Form, oldest first (empty if none)."""
        return self._versions("form-versions", form_id, DeployedForm.model_validate_json)

    def decision_versions(self, decision_id: str) -> list[DeployedDecision]:
        """Every version of a DMN decision, oldest first (empty if none)."""
        return self._versions(
            "decision-versions", decision_id, DeployedDecision.model_validate_json
        )

    def dmn_file(self, binding: DecisionBinding) -> bytes:
        """The exact ``.dmn`` file a decision version was deployed from."""
        return self.blobs.get(f"dmn/{binding.content_hash}.dmn")

    def _versions(self, folder: str, key: str, read: Callable[[bytes], _V]) -> list[_V]:
        """The stored versions of a form or decision by its id, oldest first."""
        if not _FORM_KEY.match(key):
            return []
        found = [
            read(self.blobs.get(k))
            for k in self.blobs.list(f"{folder}/{key}/")
            if k.endswith(".json")
        ]
        return sorted(found, key=lambda v: v.version)

    def form_file(self, binding: FormBinding) -> bytes:
        """The exact ``.form`` file a form version was deployed from."""
        return self.blobs.get(f"forms/{binding.content_hash}.form")

    def form(self, form_id: str, binding: FormBinding) -> CamundaForm:
        """A deployed form version, read."""
        return read_form(self.form_file(binding), name=f"{form_id}.form")

    # --- deploying ------------------------------------------------------------------------

    def deploy(self, files: Sequence[ModelFile]) -> list[DeployResult]:
        """Validate every file, then store each form and each executable process as a
        version; what became of the processes (`deploy_files` tells the forms too)."""
        return self.deploy_files(files).processes

    def deploy_files(self, files: Sequence[ModelFile]) -> Deployment:
        """Validate every file, then store each form and each executable process as a
        version.

        Raises:
            ModelTooLargeError: more files than ``limits.max_files``, a file larger than
                ``limits.max_model_bytes``, or a process that is with its forms; nothing
                was stored.
            ModelInvalidError: with every problem of every file; nothing was stored.
        """
        self._check_count(files)
        for file in files:
            self._check_size(file)
        problems: list[Problem] = []
        forms = self._read_forms([f for f in files if f.kind == "form"], problems)
        decisions = self._read_decisions([f for f in files if f.kind == "dmn"], problems)
        warnings: dict[str, list[Problem]] = {}
        read = self._read_and_validate(
            [f for f in files if f.kind == "bpmn"], problems, forms, decisions, warnings
        )
        reference = dict(self._reference())
        planned = [
            (file, process, _entries_read(defs, process, reference, self.registry))
            for file, defs in read
            for process in executable_processes(defs)
        ]
        # Stable sort: per process, untagged first, then by tag; otherwise the given order.
        planned.sort(key=lambda fp: (fp[1].id, version_tag_key(fp[1].version_tag)))
        for file, process, _ in planned:
            self._check_carried_size(file, process, forms, decisions)
        form_results = [self._deploy_form(file, form) for file, form in forms.values()]
        deployed = {r.form.form_id: r.form.binding for r in form_results}
        decision_results = [
            self._deploy_decision(file, defs, decision_id)
            for decision_id, (file, defs) in decisions.items()
        ]
        deployed_decisions = {r.decision.decision_id: r.decision.binding for r in decision_results}
        return Deployment(
            processes=[
                self._deploy_one(
                    file,
                    process,
                    snapshot,
                    self._bindings(process, deployed),
                    self._decision_bindings(process, deployed_decisions),
                ).model_copy(update={"warnings": warnings.get(file.name, [])})
                for file, process, snapshot in planned
            ],
            forms=form_results,
            decisions=decision_results,
        )

    @staticmethod
    def _read_decisions(
        files: Sequence[ModelFile], problems: list[Problem]
    ) -> dict[str, tuple[ModelFile, DmnDefinitions]]:
        """The deployment's decisions by id, with the file each is in; what is wrong with
        the files goes to ``problems``."""
        decisions: dict[str, tuple[ModelFile, DmnDefinitions]] = {}
        for file in files:
            try:
                defs = read_dmn(file.content, name=file.name)
                # A case carries the file as text in a JSON payload.
                file.content.decode("utf-8")
            except ModelInvalidError as exc:
                problems.extend(exc.problems)
                continue
            except UnicodeDecodeError as exc:
                problems.append(
                    Problem(
                        message=f"a DMN file must be UTF-8: {exc.reason}", file=file.name, line=1
                    )
                )
                continue
            for decision in defs.decisions.values():
                earlier = decisions.get(decision.id)
                if not _FORM_KEY.match(decision.id):
                    problems.append(
                        Problem(
                            message=f"the decision id {decision.id!r} is not one niva can "
                            "store (letters, digits, '_', '.', '-'; at most 200)",
                            element_id=decision.id,
                            file=file.name,
                            line=decision.line,
                        )
                    )
                elif earlier is not None and earlier[0].content != file.content:
                    problems.append(
                        Problem(
                            message=f"the decision id {decision.id!r} is also in "
                            f"{earlier[0].name}: one deployment holds one version of a decision",
                            element_id=decision.id,
                            file=file.name,
                            line=decision.line,
                        )
                    )
                else:
                    decisions[decision.id] = (file, defs)
        return decisions

    def _decision_bindings(
        self, process: Process, deployed: Mapping[str, DecisionBinding]
    ) -> dict[str, DecisionBinding]:
        """The decision versions a process's business rule tasks call: those of this
        deployment, else the latest deployed (the deployment made sure there is one)."""
        return {
            decision_id: deployed[decision_id]
            if decision_id in deployed
            else self.decision_versions(decision_id)[-1].binding
            for decision_id in _decision_ids(process)
        }

    @staticmethod
    def _read_forms(
        files: Sequence[ModelFile], problems: list[Problem]
    ) -> dict[str, tuple[ModelFile, CamundaForm]]:
        """The deployment's forms by id; what is wrong with them goes to ``problems``."""
        forms: dict[str, tuple[ModelFile, CamundaForm]] = {}
        for file in files:
            try:
                form = read_form(file.content, name=file.name)
            except ModelInvalidError as exc:
                problems.extend(exc.problems)
                continue
            earlier = forms.get(form.id)
            if earlier is not None and earlier[0].content != file.content:
                problems.append(
                    Problem(
                        message=f"the form id {form.id!r} is also the id of {earlier[0].name}: "
                        "one deployment holds one version of a form",
                        file=file.name,
                        line=1,
                    )
                )
                continue
            forms[form.id] = (file, form)
        return forms

    def _bindings(
        self, process: Process, deployed: Mapping[str, FormBinding]
    ) -> dict[str, FormBinding]:
        """The form versions a process's user tasks name: those of this deployment, else
        the latest deployed (validation made sure there is one)."""
        return {
            form_id: deployed[form_id]
            if form_id in deployed
            else self.form_versions(form_id)[-1].binding
            for form_id in _form_ids(process)
        }

    def _read_and_validate(
        self,
        files: Sequence[ModelFile],
        problems: list[Problem],
        forms: Mapping[str, tuple[ModelFile, CamundaForm]],
        decisions: Mapping[str, tuple[ModelFile, DmnDefinitions]],
        warnings: dict[str, list[Problem]],
    ) -> list[tuple[ModelFile, Definitions]]:
        """The files read; their problems go to ``problems`` (then it raises), their
        warnings to ``warnings`` by file name."""
        read: list[tuple[ModelFile, Definitions]] = []
        for file in files:
            try:
                read.append((file, read_bpmn(file.content)))
            except BpmnReadError as exc:
                problems.append(exc.problem.model_copy(update={"file": file.name}))
        known = set(self.process_ids())
        known.update(p.id for _, defs in read for p in executable_processes(defs))
        for file, defs in read:
            checked = check_model(
                defs,
                registry=self.registry,
                known_processes=known,
                min_cycle_period=self.limits.min_cycle_period,
            )
            found = checked.problems
            warnings[file.name] = [
                w.model_copy(update={"file": file.name}) for w in checked.warnings
            ]
            for process in executable_processes(defs):
                too_many = self._element_count(process)
                if too_many is not None:
                    found.append(too_many)
                found.extend(self._missing_forms(process, forms))
                found.extend(self._missing_decisions(process, decisions))
                found.extend(embedded_form_problems(process))
            problems.extend(p.model_copy(update={"file": file.name}) for p in found)
        if problems:
            raise ModelInvalidError(problems)
        return read

    def _missing_forms(
        self, process: Process, forms: Mapping[str, tuple[ModelFile, CamundaForm]]
    ) -> list[Problem]:
        """A user task whose formId names no form of the deployment nor a deployed one."""
        missing: list[Problem] = []
        for node in process.all_nodes():
            form = node.niva.form
            if form is None or not form.form_id or form.form_id in forms:
                continue
            if not self.form_versions(form.form_id):
                missing.append(
                    Problem(
                        message=f"the form {form.form_id!r} is neither in this deployment nor "
                        "deployed: deploy its .form file with the model",
                        element_id=node.id,
                        line=form.line or node.line,
                    )
                )
        return missing

    def _missing_decisions(
        self, process: Process, decisions: Mapping[str, tuple[ModelFile, DmnDefinitions]]
    ) -> list[Problem]:
        """A business rule task whose decisionId names no decision of the deployment nor a
        deployed one."""
        missing: list[Problem] = []
        for node in process.all_nodes():
            called = node.niva.called_decision
            decision_id = called.decision_id if called is not None else None
            if called is None or not decision_id or decision_id in decisions:
                continue
            if not self.decision_versions(decision_id):
                known = ", ".join(sorted(decisions)) or "none"
                missing.append(
                    Problem(
                        message=f"the decision {decision_id!r} is neither in this deployment "
                        f"(decisions: {known}) nor deployed: deploy its .dmn file with the model",
                        element_id=node.id,
                        line=called.line or node.line,
                    )
                )
        return missing

    def _check_count(self, files: Sequence[ModelFile]) -> None:
        count, limit = len(files), self.limits.max_files
        if count > limit:
            raise ModelTooLargeError(
                f"the deployment holds {count} files, more than the {limit} one deployment "
                "accepts (setting NIVA_MODELS_MAX_FILES); deploy them in parts",
                file="<deployment>",
                size=count,
                limit=limit,
            )

    def _check_carried_size(
        self,
        file: ModelFile,
        process: Process,
        forms: Mapping[str, tuple[ModelFile, CamundaForm]],
        decisions: Mapping[str, tuple[ModelFile, DmnDefinitions]],
    ) -> None:
        """A case carries its model, its forms and its decisions' files in its first event:
        together they must fit the limit of one file."""
        size = len(file.content)
        for form_id in _form_ids(process):
            if form_id in forms:
                size += len(forms[form_id][0].content)
            else:
                size += len(self.form_file(self.form_versions(form_id)[-1].binding))
        for decision_id in _decision_ids(process):
            if decision_id in decisions:
                size += len(decisions[decision_id][0].content)
            else:
                size += len(self.dmn_file(self.decision_versions(decision_id)[-1].binding))
        limit = self.limits.max_model_bytes
        if size > limit:
            raise ModelTooLargeError(
                f"{process.id} in {file.name} takes {size:,} bytes with the forms it names "
                "and the decisions it calls, "
                f"more than the {limit:,} a deployment accepts (setting NIVA_MODELS_MAX_BYTES): "
                "every case carries its model, forms and decisions; split the process with call "
                "activities",
                file=file.name,
                size=size,
                limit=limit,
            )

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

    def _deploy_form(self, file: ModelFile, form: CamundaForm) -> FormDeployResult:
        digest = hashlib.sha256(file.content).hexdigest()
        self.blobs.put_if_absent(f"forms/{digest}.form", file.content)
        deployed, created = self._claim(
            "form",
            form.id,
            digest,
            self.form_versions,
            lambda version: DeployedForm(
                form_id=form.id,
                version=version,
                content_hash=digest,
                file_name=file.name,
                deployed_at=datetime.now(UTC),
            ),
        )
        return FormDeployResult(form=deployed, created=created)

    def _deploy_decision(
        self, file: ModelFile, defs: DmnDefinitions, decision_id: str
    ) -> DecisionDeployResult:
        digest = hashlib.sha256(file.content).hexdigest()
        self.blobs.put_if_absent(f"dmn/{digest}.dmn", file.content)
        deployed, created = self._claim(
            "decision",
            decision_id,
            digest,
            self.decision_versions,
            lambda version: DeployedDecision(
                decision_id=decision_id,
                version=version,
                content_hash=digest,
                name=defs.decisions[decision_id].name,
                file_name=file.name,
                deployed_at=datetime.now(UTC),
            ),
        )
        return DecisionDeployResult(decision=deployed, created=created)

    def _claim(
        self,
        kind: str,
        key: str,
        digest: str,
        versions_of: Callable[[str], list[_V]],
        make: Callable[[int], _V],
    ) -> tuple[_V, bool]:
        """The version of a form or decision (``kind``) whose file has ``digest``: an
        existing one, else a new one claimed, and whether it is new."""
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            versions = versions_of(key)
            for existing in versions:
                if existing.content_hash == digest:
                    return existing, False
            deployed = make((versions[-1].version + 1) if versions else 1)
            # The version file is the claim, as for a process version.
            blob = f"{kind}-versions/{key}/{deployed.version}.json"
            if self.blobs.put_if_absent(blob, deployed.model_dump_json().encode()):
                return deployed, True
        raise DeploymentError(
            f"could not claim a version of {kind} {key!r} after {_MAX_CLAIM_ATTEMPTS} tries: "
            "too many concurrent deployments"
        )

    def _deploy_one(
        self,
        file: ModelFile,
        process: Process,
        reference: Mapping[str, Any],
        forms: dict[str, FormBinding],
        decisions: dict[str, DecisionBinding],
    ) -> DeployResult:
        digest = hashlib.sha256(file.content).hexdigest()
        self.blobs.put_if_absent(f"bpmn/{digest}.bpmn", file.content)
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            versions = self.versions(process.id)
            for existing in versions:
                if (
                    existing.content_hash == digest
                    and existing.forms == forms
                    and existing.decisions == decisions
                ):
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
                forms=forms,
                decisions=decisions,
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


class Companions(BaseModel):
    """The Camunda Forms and DMN decisions of a set of files, read as a deployment reads
    them (`read_companions`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    forms: dict[str, CamundaForm] = Field(description="By form id.")
    decisions: dict[str, DmnDefinitions] = Field(
        description="The DMN file each decision is in, by decision id."
    )
    file_names: dict[str, str] = Field(
        description="The name of the file each form or decision id came from."
    )
    problems: list[Problem] = Field(description="What is wrong with the files, located.")


def read_companions(files: Sequence[ModelFile]) -> Companions:
    """Read the ``.form`` and ``.dmn`` files among ``files`` as `ModelStore.deploy_files`
    does (one version of an id per deployment, ids niva can store), storing nothing."""
    problems: list[Problem] = []
    forms = ModelStore._read_forms([f for f in files if f.kind == "form"], problems)
    decisions = ModelStore._read_decisions([f for f in files if f.kind == "dmn"], problems)
    return Companions(
        forms={form_id: form for form_id, (_, form) in forms.items()},
        decisions={decision_id: defs for decision_id, (_, defs) in decisions.items()},
        file_names={key: file.name for key, (file, _) in [*forms.items(), *decisions.items()]},
        problems=problems,
    )


def embedded_form_problems(process: Process) -> list[Problem]:
    """What is wrong with the forms embedded in a Camunda 8 process (``zeebe:userTaskForm``),
    which its tasks check completions against like deployed forms."""
    problems: list[Problem] = []
    for form_id, text in process.user_task_forms.items():
        try:
            read_form(text.encode(), name="", embedded_id=form_id)
        except ModelInvalidError as exc:
            problems.extend(
                Problem(
                    message=f"the embedded form {form_id!r} (zeebe:userTaskForm): {p.message}",
                    element_id=p.element_id or process.id,
                    line=process.line,
                )
                for p in exc.problems
            )
    return problems


def _form_ids(process: Process) -> list[str]:
    """The Camunda Form ids the process's elements name, in model order, once each."""
    ids = [n.niva.form.form_id for n in process.all_nodes() if n.niva.form and n.niva.form.form_id]
    return list(dict.fromkeys(ids))


def _decision_ids(process: Process) -> list[str]:
    """The DMN decision ids the process's business rule tasks call, in model order, once
    each."""
    return list(dict.fromkeys(_called_decisions(process.all_nodes())))


def _called_decisions(nodes: Iterable[FlowNode]) -> Iterable[str]:
    for node in nodes:
        called = node.niva.called_decision
        if called is not None and called.decision_id:
            yield called.decision_id


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
