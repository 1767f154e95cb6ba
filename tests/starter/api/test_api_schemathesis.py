"""Property-based requests generated from the OpenAPI document: no answer is a 5xx, every
status is documented, and every body matches its schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from starter.api.app import create_app
from starter.api.auth import TokenEntry
from starter.settings import ApiSettings
from tests.support.api import LIFE, ONE_TASK, Api

FUZZER = TokenEntry(subject="fuzzer", org="SE-SOS", roles=["modeler", "operator", "officer"])
MAX_EXAMPLES = 20


def fuzz(
    schema: schemathesis.BaseSchema, headers: dict[str, str], calls: dict[str, int]
) -> list[str]:
    """Run every operation's examples; the failures, one line each (``calls`` counts the
    requests per operation)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case[Any]) -> None:
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}")
    return failures


async def test_generated_requests_never_get_a_server_error(api: Api, tmp_path: Path):
    await api.deploy(LIFE, ONE_TASK)
    await api.start("api_one", "fuzz-1")
    app = create_app(
        ApiSettings(max_upload_bytes=64 * 1024, query_timeout_seconds=5),
        client=api.client,
        store=api.store,
        task_queue=api.task_queue,
        document_store=api.documents,
        tokens={"fuzz-token": FUZZER},
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The requests run in schemathesis's own event loop thread; this loop keeps the worker
    # answering the cases' queries meanwhile.
    calls: dict[str, int] = {}
    failures = await asyncio.to_thread(fuzz, schema, {"Authorization": "Bearer fuzz-token"}, calls)
    assert failures == []
    assert len(calls) == len(app.openapi()["paths"]) + 3  # paths with two methods
    assert sum(calls.values()) > 10 * len(calls)
