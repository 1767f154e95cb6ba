"""Render BPMN XML with bpmn-js in Debian's headless chromium, as bpmn.io would show it.

A process owner opens niva's models in bpmn.io or Camunda Modeler, both built on bpmn-js.
The honest check that a file "opens and renders" is therefore to import it with bpmn-js in
a real browser. This module writes a small HTML page that loads the bpmn-js viewer bundle
from ``node_modules`` (installed by ``npm ci`` from the repository's ``package.json``),
imports the XML, and records what bpmn-js reports: import warnings, the error that stopped
the import, and how many shapes and connections were drawn per BPMN element id. Chromium
runs once with ``--dump-dom`` to read that record, and once more with ``--screenshot`` when
a picture is asked for.

Nothing is fetched at run time: the page loads only local files, and chromium is started
with its background networking, component updates and sync switched off.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

__all__ = [
    "RenderResult",
    "bpmn_js_bundle",
    "find_chromium",
    "render_bpmn",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root, where ``package.json`` and ``node_modules`` live."""

_BUNDLE_CANDIDATES = (
    "node_modules/bpmn-js/dist/bpmn-viewer.production.min.js",
    "node_modules/bpmn-js/dist/bpmn-viewer.development.js",
    "node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
)
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_RESULT_RE = re.compile(r'data-result="([A-Za-z0-9+/=]+)"')
_ENCODING_RE = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class ViewBox(BaseModel):
    """The diagram's extent in diagram coordinates, as bpmn-js measured it."""

    x: float
    y: float
    width: float
    height: float


class RenderResult(BaseModel):
    """What bpmn-js reported after importing one BPMN document.

    Attributes:
        warnings: Import warnings (unresolved references, elements without DI, ...).
        error: The message of the error that stopped the import, or None if it succeeded.
        shapes: Number of rendered shapes per BPMN element id (labels and planes excluded).
        connections: Number of rendered connections per BPMN element id.
        viewbox: The extent of everything drawn on the visible plane, if the import worked.
    """

    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    shapes: dict[str, int] = Field(default_factory=dict)
    connections: dict[str, int] = Field(default_factory=dict)
    viewbox: ViewBox | None = None


def find_chromium() -> str | None:
    """Return the path of a chromium executable, or None when none is installed.

    ``NIVA_CHROMIUM`` names one explicitly; otherwise Debian's ``chromium`` on PATH is used.
    """
    explicit = os.environ.get("NIVA_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def bpmn_js_bundle() -> Path | None:
    """Return the bpmn-js viewer bundle installed by ``npm ci``, or None if it is missing."""
    for candidate in _BUNDLE_CANDIDATES:
        path = REPO_ROOT / candidate
        if path.is_file():
            return path
    return None


def render_bpmn(
    xml: str | bytes, *, screenshot: Path | None = None, timeout: float = 60
) -> RenderResult:
    """Import BPMN XML into bpmn-js in headless chromium and report what it drew.

    Args:
        xml: The BPMN document. Bytes are decoded by their XML declaration (BOM, or
            ``encoding="..."``, else UTF-8), as a browser reading the file would.
        screenshot: If given, a PNG of the whole diagram (zoomed to fit) is written there.
        timeout: Seconds allowed for each chromium run before it is killed.

    Returns:
        The import warnings, the import error (if any) and the counts of rendered shapes
        and connections per element id.

    Raises:
        RuntimeError: chromium or the bpmn-js bundle is missing, chromium did not finish
            within ``timeout``, or the page produced no result (the bundle failed to load).
    """
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("chromium is not installed: run `apt-get install -y chromium`")
    bundle = bpmn_js_bundle()
    if bundle is None:
        raise RuntimeError(
            f"bpmn-js is not installed under {REPO_ROOT / 'node_modules'}: run `npm ci` "
            "at the repository root"
        )
    text = _decode_xml(xml) if isinstance(xml, bytes) else xml
    with tempfile.TemporaryDirectory(prefix="niva-bpmn-render-") as work:
        work_dir = Path(work)
        page = work_dir / "render.html"
        page.write_text(_page_html(text, bundle), encoding="utf-8")
        dom = _run_chromium(chromium, work_dir, ["--dump-dom", page.as_uri()], timeout)
        result = _parse_result(dom)
        if screenshot is not None and result.viewbox is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            width, height = _window_size(result.viewbox)
            _run_chromium(
                chromium,
                work_dir,
                [
                    f"--screenshot={screenshot.resolve()}",
                    f"--window-size={width},{height}",
                    "--hide-scrollbars",
                    f"{page.as_uri()}#{width}x{height}",
                ],
                timeout,
            )
            if not screenshot.is_file():
                raise RuntimeError(f"chromium wrote no screenshot to {screenshot}")
    return result


def _decode_xml(data: bytes) -> str:
    """Decode XML bytes the way an XML parser would: BOM, then declaration, then UTF-8."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name)
    match = _ENCODING_RE.match(data)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def _page_html(xml: str, bundle: Path) -> str:
    """Build the page that imports ``xml`` and writes its findings into the DOM.

    The XML travels base64-encoded so that no character in it (``</script>``, quotes,
    non-ASCII names) can break out of the script it is embedded in.
    """
    encoded = base64.b64encode(xml.encode("utf-8")).decode("ascii")
    assets = bundle.parent / "assets"
    styles = "".join(
        f'<link rel="stylesheet" href="{(assets / name).as_uri()}">'
        for name in ("diagram-js.css", "bpmn-js.css")
        if (assets / name).is_file()
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>render</title>{styles}
<style>
html, body {{ margin: 0; background: #fff; }}
#canvas {{ width: 100vw; height: 100vh; }}
</style>
<script src="{bundle.as_uri()}"></script>
</head><body><div id="canvas"></div><div id="result"></div>
<script>
const pageErrors = [];
window.addEventListener("error", (event) => pageErrors.push(String(event.message)));
function publish(out) {{
  const json = JSON.stringify(out);
  const bytes = new TextEncoder().encode(json);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  document.getElementById("result").setAttribute("data-result", btoa(binary));
}}
(async () => {{
  const out = {{ warnings: [], error: null, shapes: {{}}, connections: {{}}, viewbox: null }};
  try {{
    if (typeof BpmnJS === "undefined") {{
      throw new Error("the bpmn-js bundle did not load: " + pageErrors.join("; "));
    }}
    const binary = atob("{encoded}");
    const xml = new TextDecoder("utf-8").decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    // The screenshot run names its window size in the URL fragment. Headless chromium lays
    // the page out in a viewport shorter than the window (it reserves room for browser UI)
    // but captures the whole window, so the canvas gets that size explicitly.
    const size = /^#(\\d+)x(\\d+)$/.exec(location.hash);
    if (size) {{
      const container = document.getElementById("canvas");
      container.style.width = size[1] + "px";
      container.style.height = size[2] + "px";
    }}
    const viewer = new BpmnJS({{ container: "#canvas" }});
    let imported = false;
    try {{
      const res = await viewer.importXML(xml);
      out.warnings = (res.warnings || []).map((w) => String(w.message || w));
      imported = true;
    }} catch (err) {{
      out.error = String(err.message || err);
      out.warnings = (err.warnings || []).map((w) => String(w.message || w));
    }}
    if (imported) {{
      const canvas = viewer.get("canvas");
      const roots = new Set(canvas.getRootElements());
      for (const el of viewer.get("elementRegistry").getAll()) {{
        if (roots.has(el) || el.type === "label" || !el.businessObject) continue;
        const bucket = el.waypoints ? out.connections : out.shapes;
        const id = el.businessObject.id;
        bucket[id] = (bucket[id] || 0) + 1;
      }}
      const inner = canvas.viewbox().inner;
      out.viewbox = {{ x: inner.x, y: inner.y, width: inner.width, height: inner.height }};
      // Frame the whole diagram with a margin; the screenshot window has its aspect ratio.
      const m = 40;
      canvas.viewbox({{
        x: inner.x - m, y: inner.y - m, width: inner.width + 2 * m, height: inner.height + 2 * m,
      }});
    }}
  }} catch (err) {{
    out.error = "render page failed: " + String(err.message || err);
  }}
  publish(out);
}})();
</script></body></html>
"""


def _run_chromium(chromium: str, work_dir: Path, args: list[str], timeout: float) -> str:
    """Run headless chromium with a fresh profile; kill its whole process group on timeout."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=work_dir)
    command = [
        chromium,
        "--headless",
        # Tests run as root, where chromium refuses its sandbox.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        # Virtual time lets the page's promises settle before the DOM is dumped, without
        # sleeping for wall-clock seconds.
        "--virtual-time-budget=3000",
        *args,
    ]
    # A new session makes chromium and its helper processes one group, killed together.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=work_dir,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.communicate()
        raise RuntimeError(
            f"chromium did not finish within {timeout:g} s; raise `timeout` if the "
            "diagram is very large"
        ) from None
    finally:
        # Helpers left behind by a crashed browser must not outlive the test.
        _kill_group(process.pid)
    if process.returncode != 0:
        tail = stderr.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"chromium exited with status {process.returncode}: {tail}")
    return stdout.decode("utf-8", "replace")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _parse_result(dom: str) -> RenderResult:
    match = _RESULT_RE.search(dom)
    if match is None:
        raise RuntimeError(
            "the render page wrote no result: chromium could not run bpmn-js "
            f"(DOM starts with {dom[:300]!r})"
        )
    payload = json.loads(base64.b64decode(match.group(1)).decode("utf-8"))
    return RenderResult.model_validate(payload)


def _window_size(viewbox: ViewBox) -> tuple[int, int]:
    """A window that shows the diagram at about natural size, within sane bounds."""
    margin = 40
    width = int(min(max(viewbox.width + 2 * margin, 320), 3200))
    height = int(min(max(viewbox.height + 2 * margin, 200), 2400))
    return width, height
