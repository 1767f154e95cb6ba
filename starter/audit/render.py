"""The decision trail as a page (HTML, Jinja2 with autoescaping) and as Markdown.

The page's template lives here rather than in a file so the package needs no data files.
"""

from __future__ import annotations

import json

from jinja2 import Environment, select_autoescape

from starter.audit.trail import DecisionTrail

__all__ = ["trail_html", "trail_markdown"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Decision trail of {{ trail.case_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { border: 1px solid #bbb; padding: .3rem .5rem; vertical-align: top; text-align: left; }
th { background: #eee; }
code, pre { font-size: .85em; }
pre { margin: 0; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>Decision trail of {{ trail.case_id }}</h1>
<p>Generated {{ trail.generated_at.isoformat() }} from the recorded histories.</p>

<h2>Models</h2>
<table>
<tr><th>Case</th><th>Process</th><th>Version</th><th>Content hash</th><th>Runs</th></tr>
{% for m in trail.models %}
<tr><td><code>{{ m.workflow_id }}</code>
{%- if m.parent_workflow_id %}<br>child of
<code>{{ m.parent_workflow_id }}</code>{% endif %}</td>
<td>{{ m.name or m.process_id }} (<code>{{ m.process_id }}</code>)</td><td>{{ m.version }}</td>
<td><code>{{ m.content_hash }}</code></td><td>{{ m.runs | length }}</td></tr>
{% endfor %}
</table>

<h2>Decisions</h2>
<table>
<tr><th>#</th><th>Time</th><th>What</th><th>Element</th><th>Actor</th><th>Organisation</th>
<th>Payload</th><th>Documents</th><th>Model</th></tr>
{% for d in trail.decisions %}
<tr id="d{{ d.seq }}"><td>{{ d.seq }}</td><td>{{ d.at.isoformat() }}</td>
<td>{{ d.kind }}{% if d.detail %}<br>{{ d.detail }}{% endif %}</td>
<td>{% if d.element_id %}{{ d.element_name or "" }} <code>{{ d.element_id }}</code>{% endif %}
{%- if d.task_id %}<br>task <code>{{ d.task_id }}</code>{% endif %}</td>
<td>{{ d.actor or "" }}</td><td>{{ d.org or "" }}</td>
<td>{% if d.payload %}<pre>{{ d.payload | tojson(indent=1) }}</pre>{% endif %}</td>
<td>{% for doc in d.documents %}{{ doc.name or "" }}<br>
<code>sha256:{{ doc.sha256 }}</code><br>{% endfor %}</td>
<td><code>{{ d.process_id }}</code> v{{ d.version }}<br>
<code>{{ d.content_hash[:16] }}…</code><br><small>{{ d.workflow_id }}</small></td></tr>
{% endfor %}
</table>

<h2>Deadlines</h2>
<table>
<tr><th>Case</th><th>Deadline</th><th>On</th><th>Due</th><th>Outcome</th><th>Moves</th></tr>
{% for dl in trail.deadlines %}
<tr><td><code>{{ dl.workflow_id }}</code></td>
<td>{{ dl.element_name or "" }} <code>{{ dl.element_id }}</code></td>
<td><code>{{ dl.attached_to }}</code></td><td>{{ dl.due.isoformat() if dl.due else "" }}</td>
<td>{{ dl.outcome }}{% if dl.extended %} (extended){% endif %}</td>
<td>{% for move in dl.moves %}{{ move }}<br>{% endfor %}</td></tr>
{% endfor %}
</table>
</body>
</html>
"""

_environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_page = _environment.from_string(_PAGE)


def trail_html(trail: DecisionTrail) -> str:
    """The trail as one HTML page; every recorded value is escaped."""
    return _page.render(trail=trail)


def _cell(value: object) -> str:
    """A value in a Markdown table cell: one line, pipes escaped."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def trail_markdown(trail: DecisionTrail) -> str:
    """The trail as Markdown: models, decisions and deadlines as tables."""
    lines = [
        f"# Decision trail of {trail.case_id}",
        "",
        f"Generated {trail.generated_at.isoformat()} from the recorded histories.",
        "",
        "## Models",
        "",
        "| Case | Process | Version | Content hash | Runs |",
        "|---|---|---|---|---|",
    ]
    for m in trail.models:
        lines.append(
            f"| `{_cell(m.workflow_id)}` | {_cell(m.name or m.process_id)} (`{m.process_id}`) "
            f"| {m.version} | `{m.content_hash}` | {len(m.runs)} |"
        )
    lines += [
        "",
        "## Decisions",
        "",
        "| # | Time | What | Element | Actor | Organisation | Payload | Documents | Model |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in trail.decisions:
        what = d.kind + (f": {d.detail}" if d.detail else "")
        element = ""
        if d.element_id:
            element = f"{d.element_name or ''} `{d.element_id}`".strip()
        if d.task_id:
            element += f" (task `{d.task_id}`)"
        documents = "; ".join(
            f"{doc.name or ''} sha256:{doc.sha256}".strip() for doc in d.documents
        )
        payload = _cell(d.payload) if d.payload else ""
        lines.append(
            f"| {d.seq} | {d.at.isoformat()} | {_cell(what)} | {_cell(element)} "
            f"| {_cell(d.actor or '')} | {_cell(d.org or '')} | {payload} | {_cell(documents)} "
            f"| `{d.process_id}` v{d.version} `{d.content_hash[:16]}` |"
        )
    lines += [
        "",
        "## Deadlines",
        "",
        "| Case | Deadline | On | Due | Outcome | Moves |",
        "|---|---|---|---|---|---|",
    ]
    for dl in trail.deadlines:
        outcome = dl.outcome + (" (extended)" if dl.extended else "")
        lines.append(
            f"| `{_cell(dl.workflow_id)}` | {_cell(dl.element_name or '')} `{dl.element_id}` "
            f"| `{dl.attached_to}` | {dl.due.isoformat() if dl.due else ''} | {outcome} "
            f"| {_cell('; '.join(dl.moves))} |"
        )
    return "\n".join(lines) + "\n"
