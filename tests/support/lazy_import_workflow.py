"""A workflow that imports inside its code, as a `process_models` function called by a
workflow may (`tests/workflows/test_generated_findings.py`)."""

from __future__ import annotations

from temporalio import workflow

__all__ = ["LazyImport"]


@workflow.defn(name="niva-test-lazy-import")
class LazyImport:
    @workflow.run
    async def run(self) -> int:
        """The identity of the module the import found."""
        from process_models.bpmn import namespaces

        return id(namespaces)
