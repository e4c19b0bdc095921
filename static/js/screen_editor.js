// The screen editor (templates/screeners/editor.html, screeners/editor.py). As the user
// types, the condition, each column's expression and the rank are checked by the API
// (POST /api/v1/screens/check, 250 ms after the last keystroke): an error shows under its
// field with the line of text and a caret under the character it points at, and clears
// once the text parses. "Save" sends the SCREEN (POST /api/v1/screens, or PATCH
// /api/v1/screens/<id> once it exists), a 400 shown next to the field it names; "Save and
// run now" then asks for a run (POST .../<id>/run) and, once the results show that run or
// a later one, opens the screen's results page. The URLs come from the form's data-api and
// data-pages; the CSRF token from its hidden csrfmiddlewaretoken field.

const CHECK_DELAY_MS = 250;
const RUN_POLL_MS = 500;
const RUN_WAIT_MS = 30000;  // then the results page anyway (it says when no run has finished)
// An error's message starts with the field it was in ("condition: ..."): under the field
// itself, that part goes.
const FIELD_PREFIX = /^(condition|expression|rank_by|columns\.[a-z0-9_]+): /;

const form = document.getElementById("screen-editor");
const presetSelect = document.getElementById("screen-preset");

const byId = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the API ---------------------------------------------------------------------------

// {status, ok, data}; status 0 when the server could not be reached.
async function call(method, url, body) {
  const headers = {
    "Accept": "application/json",
    "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    return {status: response.status, ok: response.ok, data};
  } catch (error) {  // offline, or the server went away
    return {status: 0, ok: false, data: {error: "the server could not be reached"}};
  }
}

// --- problems under fields -------------------------------------------------------------

function checkBox(input) {
  return input.closest(".js-checked").querySelector(".js-check");
}

// The line of `text` holding `position`, and under it a caret at that character (tabs
// kept so that it lines up).
function caretLines(text, position) {
  const start = text.lastIndexOf("\n", position - 1) + 1;
  const newline = text.indexOf("\n", position);
  const line = text.slice(start, newline < 0 ? text.length : newline);
  const pad = line.slice(0, position - start).replace(/[^\t]/g, " ");
  return `${line}\n${pad}^`;
}

function showProblem(input, {text, message, position}) {
  const box = checkBox(input);
  const caret = box.querySelector(".js-caret");
  box.querySelector(".js-message").textContent = message.replace(FIELD_PREFIX, "");
  const placed = Number.isInteger(position);
  caret.textContent = placed ? caretLines(text, Math.min(position, text.length)) : "";
  caret.hidden = !placed;
  box.dataset.position = placed ? String(position) : "";
  box.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

function clearProblem(input) {
  const box = checkBox(input);
  box.hidden = true;
  box.dataset.position = "";
  input.removeAttribute("aria-invalid");
}

function showFieldError(field, message) {
  const slot = form.querySelector(`[data-error-for="${field}"]`);
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  return true;
}

function setStatus(text, {error = false, link = null} = {}) {
  const status = byId("screen-status");
  status.textContent = text;
  status.classList.toggle("error", error);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    status.append(" ", a);
  }
}

// --- the live check --------------------------------------------------------------------

const timers = new WeakMap();

async function check(input) {
  const text = input.value;
  const kind = input.dataset.check;  // condition | expression
  if (kind === "expression" && !text.trim()) {  // an empty rank or column is not an error yet
    clearProblem(input);
    return;
  }
  const answer = await call("POST", `${form.dataset.api}/check`, {[kind]: text});
  if (input.value !== text || !input.isConnected) return;  // typed on since: a newer check comes
  if (answer.ok) clearProblem(input);
  else if (answer.status === 400 && answer.data?.error) {
    showProblem(input, {text, message: answer.data.error, position: answer.data.position});
  }  // anything else (rate limited, offline): the save will tell
}

function scheduleCheck(input) {
  clearTimeout(timers.get(input));
  timers.set(input, setTimeout(() => check(input), CHECK_DELAY_MS));
}

// --- columns ---------------------------------------------------------------------------

function addColumn() {
  const row = byId("column-row-template").content.firstElementChild.cloneNode(true);
  byId("screen-columns").append(row);
  row.querySelector(".js-column-name").focus();
}

function columnRows() {
  return [...byId("screen-columns").querySelectorAll(".js-column")];
}

// --- saving ----------------------------------------------------------------------------

function notifyValue() {
  if (!byId("screen-notify").checked) return null;
  const url = byId("screen-webhook-url").value.trim();
  const secret = byId("screen-webhook-secret").value;
  const webhook = url ? {url, format: byId("screen-webhook-format").value} : null;
  if (webhook && secret) webhook.secret = secret;  // blank: the stored one is kept
  return {on: "entered", email: byId("screen-notify-email").checked, webhook};
}

// The SCREEN the form holds (the contract's shape, less id, slug and owner).
function screenBody() {
  const columns = [];
  for (const row of columnRows()) {
    const name = row.querySelector(".js-column-name").value.trim();
    const expression = row.querySelector(".js-column-expression").value;
    if (name || expression.trim()) columns.push([name, expression]);
  }
  const limit = byId("screen-limit").value.trim();
  return {
    name: byId("screen-name").value,
    universe: byId("screen-universe").value.trim(),
    timeframe: byId("screen-timeframe").value,
    condition: byId("screen-condition").value,
    columns: Object.fromEntries(columns),
    rank_by: byId("screen-rank-by").value,
    descending: byId("screen-descending").checked,
    limit: /^\d+$/.test(limit) ? Number(limit) : limit,
    schedule: byId("screen-schedule").value,
    notify: notifyValue(),
  };
}

function repeatedColumn() {
  const names = columnRows().map((row) => row.querySelector(".js-column-name").value.trim());
  return names.find((name, i) => name && names.indexOf(name) !== i);
}

// Where a 400 goes: under the text it points into, beside its field, or in the status.
function showSaveError({error, field, position}) {
  const column = field?.startsWith("columns.") ? field.slice("columns.".length) : null;
  const row = column && columnRows().find(
    (r) => r.querySelector(".js-column-name").value.trim() === column);
  const input = field === "condition" ? byId("screen-condition")
    : field === "rank_by" ? byId("screen-rank-by")
      : row ? row.querySelector(".js-column-expression") : null;
  if (input) showProblem(input, {text: input.value, message: error, position});
  else if (!field || !showFieldError(field, error)) {
    setStatus(error, {error: true});
    return;
  }
  setStatus("Not saved: see the field marked.", {error: true});
}

function clearSaveErrors() {
  form.querySelectorAll("[data-error-for]").forEach((slot) => { slot.hidden = true; });
  setStatus("");
}

// The saved SCREEN, or null when the API refused it (the reason shown).
async function save() {
  clearSaveErrors();
  const repeated = repeatedColumn();
  if (repeated) {
    showFieldError("columns", `the column name ${repeated} is used twice`);
    return null;
  }
  const id = form.dataset.screenId;
  const answer = await call(id ? "PATCH" : "POST",
    id ? `${form.dataset.api}/${id}` : form.dataset.api, screenBody());
  if (!answer.ok) {
    showSaveError(answer.data?.error ? answer.data : {error: `not saved (HTTP ${answer.status})`});
    return null;
  }
  const screen = answer.data.screen;
  form.querySelectorAll("[data-check]").forEach(clearProblem);  // all of it parsed
  if (!id) {  // from now on, this page edits the screen it made
    form.dataset.screenId = String(screen.id);
    history.replaceState(null, "", `${form.dataset.pages}${screen.slug}/edit`);
    byId("screen-preset-form")?.remove();
  }
  byId("screen-webhook-secret").value = "";
  if (screen.notify?.webhook) byId("screen-secret-hint").textContent = "a secret is stored: leave blank to keep it";
  byId("editor-title").textContent = `Edit ${screen.name}`;
  return screen;
}

// Runs `screen`, waits until its results show that run, then opens its results page.
async function runAndOpen(screen) {
  const results = `${form.dataset.pages}${screen.slug}`;
  const queued = await call("POST", `${form.dataset.api}/${screen.id}/run`);
  if (!queued.ok) {
    setStatus(`Saved, but not run: ${queued.data?.error || `HTTP ${queued.status}`}`,
      {error: true, link: {href: results, text: "Results"}});
    return;
  }
  setStatus("Saved. Running…");
  const deadline = Date.now() + RUN_WAIT_MS;
  while (Date.now() < deadline) {
    const answer = await call("GET", `${form.dataset.api}/${screen.id}/results`);
    if (answer.ok && answer.data.run && answer.data.run.id >= queued.data.run_id) break;
    await sleep(RUN_POLL_MS);
  }
  window.location.assign(results);
}

async function submit(event) {
  event.preventDefault();
  const run = event.submitter?.dataset.run === "true";
  const buttons = form.querySelectorAll("button[type=submit]");
  buttons.forEach((button) => { button.disabled = true; });
  try {
    const screen = await save();
    if (screen && run) await runAndOpen(screen);
    else if (screen) {
      setStatus("Saved.", {link: {href: `${form.dataset.pages}${screen.slug}`, text: "Results"}});
    }
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
}

// --- wiring ----------------------------------------------------------------------------

if (form) {
  form.addEventListener("input", (event) => {
    if (event.target.dataset.check) scheduleCheck(event.target);
  });
  form.addEventListener("click", (event) => {
    const remove = event.target.closest(".js-remove-column");
    if (remove) remove.closest(".js-column").remove();
  });
  byId("add-column").addEventListener("click", addColumn);
  byId("screen-notify").addEventListener("change", (event) => {
    byId("screen-notify-options").hidden = !event.target.checked;
  });
  form.addEventListener("submit", submit);
}
// Picking a preset opens the editor filled from it (the form's own "Use" without a script).
presetSelect?.addEventListener("change", () => presetSelect.form.requestSubmit());
