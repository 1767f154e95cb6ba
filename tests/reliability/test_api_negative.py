"""Invalid requests generated from the OpenAPI document (schemathesis's negative mode):
none gets a 5xx, none a 2xx. The positive mode (every answer documented and conforming)
is tests/starter/api/test_api_schemathesis.py; this adds the other half."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.core.result import Ok

from starter.api.app import create_app
from starter.api.auth import TokenEntry
from starter.settings import ApiSettings
from tests.reliability.figures import record_figures
from tests.support.api import LIFE, ONE_TASK, Api

FUZZER = TokenEntry(subject="fuzzer", org="SE-SOS", roles=["modeler", "operator", "officer"])
MAX_EXAMPLES = 15


def _negative_test(
    operation: Any, headers: dict[str, str], calls: dict[str, int]
) -> Callable[[], None]:
    """The hypothesis test of one operation's invalid requests."""
    # A 2xx is a failure only for an invalid *body*: a repeated query parameter (the last
    # one wins) is read as valid by every web framework.
    has_body = operation.method.upper() in ("POST", "PUT", "PATCH")

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
        if has_body:
            case.validate_response(response, checks=[not_a_server_error, negative_data_rejection])

    return run


def fuzz_negative(
    schema: schemathesis.BaseSchema, headers: dict[str, str], calls: dict[str, int]
) -> list[str]:
    """Send each operation invalid requests; the failures, one line each."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        try:
            _negative_test(operation, headers, calls)()
        except hypothesis.errors.Unsatisfiable:
            continue  # an operation with nothing to make invalid
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


async def test_invalid_requests_never_succeed_nor_crash(api: Api, tmp_path: Path):
    await api.deploy(LIFE, ONE_TASK)
    await api.start("api_one", "fuzz-neg-1")
    app = create_app(
        ApiSettings(max_upload_bytes=64 * 1024, query_timeout_seconds=5),
        client=api.client,
        store=api.store,
        task_queue=api.task_queue,
        document_store=api.documents,
        tokens={"fuzz-token": FUZZER},
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: dict[str, int] = {}
    failures = await asyncio.to_thread(
        fuzz_negative, schema, {"Authorization": "Bearer fuzz-token"}, calls
    )
    record_figures(
        "bounded",
        "invalid API requests",
        faults=sum(calls.values()),
        requests=sum(calls.values()),
        cases=1,
        losses=len(failures),
        notes=f"{len(calls)} operations, schemathesis negative mode",
    )
    assert failures == [], "\n".join(failures)
    assert sum(calls.values()) > 3 * len(calls)
