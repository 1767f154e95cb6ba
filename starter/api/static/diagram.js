// niva's diagram pages: draw a model with bpmn-js and mark it from the page's state route.
// The bearer token is asked for once and kept in this tab's sessionStorage.
(() => {
  "use strict";
  const TOKEN_KEY = "niva-token";
  const body = document.body;
  const mode = body.dataset.mode;
  const stateUrl = body.dataset.stateUrl;
  const $ = (id) => document.getElementById(id);

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function problem(message) {
    $("problem").textContent = message;
    $("problem").hidden = !message;
  }

  async function getWithToken(url, token, accept) {
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${token}`, Accept: accept },
    });
    if (response.ok) return response;
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) {
      // not the API's JSON error: keep the status line
    }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }

  function askForToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    problem(message || "");
    $("login").hidden = false;
    $("token").focus();
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").hidden = true;
    load(token);
  });

  async function load(token) {
    problem("");
    let state;
    try {
      state = await (await getWithToken(stateUrl, token, "application/json")).json();
    } catch (err) {
      if (err.status === 401) return askForToken("The token was refused: enter another.");
      problem(err.status === 404 && mode === "case"
        ? "No such case, or this token may not read it."
        : String(err.message));
      return;
    }
    summarise(state);
    sidePanel(state);
    if (typeof window.BpmnJS === "undefined") {
      problem(body.dataset.bpmnJs
        ? "bpmn-js did not load: the diagram cannot be drawn."
        : "bpmn-js is not installed on the server (run `npm ci` at the repository root): "
          + "the diagram cannot be drawn; the state is listed beside.");
      body.dataset.ready = "no-diagram";
      return;
    }
    const bpmnUrl = body.dataset.bpmnUrl
      || `/process-models/${encodeURIComponent(state.process_id)}/bpmn?version=${state.version}`;
    try {
      const xml = await (await getWithToken(bpmnUrl, token, "application/xml")).text();
      const viewer = new window.BpmnJS({ container: "#canvas" });
      await viewer.importXML(xml);
      viewer.get("canvas").zoom("fit-viewport", "auto");
      if (mode === "case") markCase(viewer, state);
      else markProcess(viewer, state);
      body.dataset.ready = "yes";
    } catch (err) {
      problem(`The model could not be drawn: ${err.message}`);
      body.dataset.ready = "failed";
    }
  }

  function summarise(state) {
    const text = mode === "case"
      ? `${state.process_id} version ${state.version} · ${state.status}`
        + (state.outcome ? ` · ${state.outcome}` : "")
      : `${state.running} running case${state.running === 1 ? "" : "s"}`
        + ` · ${state.with_incident} with an incident`
        + (state.partial ? " · counts partial" : "");
    $("summary").textContent = text;
  }

  function sidePanel(state) {
    const side = $("side");
    side.replaceChildren();
    const list = (title, items) => {
      if (!items.length) return;
      side.append(element("h2", "", title));
      const ul = element("ul");
      for (const item of items) ul.append(element("li", "", item));
      side.append(ul);
    };
    const entries = Object.entries(state.elements);
    if (mode === "case") {
      list("Open tasks", state.tasks.map((t) =>
        `${t.task_id} ${t.name || ""}${t.due_text ? ` — due ${t.due_text}` : ""}`));
      list("Active", entries.filter(([, e]) => e.active).map(([id, e]) =>
        e.progress ? `${id}: ${e.progress.completed}/${e.progress.total}` : id));
      list("Incidents", entries.flatMap(([id, e]) =>
        e.incidents.map((i) => `${id} (${i.kind}): ${i.message}`)));
      side.append(element("p", "hint", `Times in ${state.timezone}.`));
    } else {
      list("Waiting", entries.filter(([, e]) => e.waiting).map(([id, e]) =>
        `${id}: ${e.waiting}`));
      list("Incidents", entries.filter(([, e]) => e.incidents).map(([id, e]) =>
        `${id}: ${e.incidents}`));
    }
  }

  function markCase(viewer, state) {
    const canvas = viewer.get("canvas");
    const overlays = viewer.get("overlays");
    const registry = viewer.get("elementRegistry");
    const drawn = (id) => registry.get(id) !== undefined;
    for (const id of state.flows_taken) if (drawn(id)) canvas.addMarker(id, "niva-taken");
    for (const [id, e] of Object.entries(state.elements)) {
      if (!drawn(id)) continue;
      if (e.completed && !e.active) canvas.addMarker(id, "niva-completed");
      if (e.active) {
        canvas.addMarker(id, "niva-active");
        const count = e.progress
          ? `${e.progress.completed}/${e.progress.total}`
          : (e.active > 1 ? String(e.active) : null);
        if (count) {
          overlays.add(id, "niva", {
            position: { top: -12, right: 12 }, html: element("div", "niva-count", count),
          });
        }
      }
      if (e.incidents.length) {
        canvas.addMarker(id, "niva-incident");
        // The whole error is in the side panel and the tooltip; the shape gets its start.
        const text = e.incidents.map((i) => i.message).join(" · ");
        const box = element("div", "niva-error", text.length > 80 ? `${text.slice(0, 79)}…` : text);
        box.title = text;
        overlays.add(id, "niva", { position: { bottom: -6, left: 0 }, html: box });
      }
    }
    // The earliest due date of the open tasks at each element (a multi-instance has many).
    const dues = {};
    for (const task of state.tasks) {
      if (!task.due) continue;
      const known = dues[task.element_id];
      if (!known || task.due < known.due) dues[task.element_id] = task;
    }
    for (const [id, task] of Object.entries(dues)) {
      if (!drawn(id)) continue;
      overlays.add(id, "niva", {
        position: { top: -30, left: 0 },
        html: element("div", "niva-due", `due ${task.due_text}`),
      });
    }
  }

  function markProcess(viewer, state) {
    const canvas = viewer.get("canvas");
    const overlays = viewer.get("overlays");
    const registry = viewer.get("elementRegistry");
    for (const [id, e] of Object.entries(state.elements)) {
      if (registry.get(id) === undefined) continue;
      if (e.waiting) {
        canvas.addMarker(id, "niva-waiting");
        overlays.add(id, "niva", {
          position: { top: -12, right: 12 },
          html: element("div", "niva-count niva-waiting-count", String(e.waiting)),
        });
      }
      if (e.incidents) {
        canvas.addMarker(id, "niva-incident");
        overlays.add(id, "niva", {
          position: { top: -12, left: -8 },
          html: element("div", "niva-count niva-incident-count", `⚠ ${e.incidents}`),
        });
      }
    }
  }

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) load(saved);
  else askForToken("");
})();
