// Finding an instrument: a text input made a combobox that asks GET /api/v1/instruments?q=
// as one types (debounced; an answer to older text is dropped) and offers what it finds in
// its listbox (the input's aria-controls), picked with the mouse or the keyboard (arrows,
// Enter, Escape). The top bar's box (templates/base.html, mounted below) opens the chart of
// what is picked, /chart/<KEY>; the alert form (alert_form.js) fills its instrument.

const SEARCH_URL = document.body.dataset.instrumentsUrl || "/api/v1/instruments";
const CHART_PATH = document.body.dataset.chartPath || "/chart/";
const DEBOUNCE_MS = 150;
const RESULTS = 12;

function option(instrument, index) {
  const li = document.createElement("li");
  li.id = `${instrument.key.replace(":", "-")}-option`;
  li.setAttribute("role", "option");
  li.dataset.index = String(index);
  li.dataset.key = instrument.key;
  const symbol = document.createElement("span");
  symbol.className = "symbol";
  symbol.textContent = instrument.symbol;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = instrument.name;
  const segment = document.createElement("span");
  segment.className = "segment";
  segment.textContent = instrument.segment;
  li.append(symbol, name, segment);
  return li;
}

// Makes `input` search instruments; `onPick(instrument)` when one is picked. `segment`
// keeps the search to one segment.
export function attachSearch(input, {onPick, segment = null}) {
  const list = document.getElementById(input.getAttribute("aria-controls"));
  let results = [];
  let active = -1;
  let timer = null;
  let asked = 0;  // each query; an answer to an older one is dropped

  function close() {
    results = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    list.querySelectorAll("[role=option]").forEach((li, i) => {
      li.setAttribute("aria-selected", String(i === index));
      if (i === index) {
        input.setAttribute("aria-activedescendant", li.id);
        li.scrollIntoView({block: "nearest"});
      }
    });
  }

  function show(found) {
    results = found;
    list.replaceChildren(...found.map(option));
    list.hidden = !found.length;
    input.setAttribute("aria-expanded", String(Boolean(found.length)));
    highlight(found.length ? 0 : -1);
  }

  async function query() {
    const text = input.value.trim();
    const ask = ++asked;
    if (!text) return close();
    const only = segment ? `&segment=${encodeURIComponent(segment)}` : "";
    try {
      const response = await fetch(`${SEARCH_URL}?q=${encodeURIComponent(text)}&limit=${RESULTS}${only}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (ask === asked) show(body.instruments || []);
    } catch {
      if (ask === asked) close();  // nothing to offer; typing again asks again
    }
  }

  function pick(index) {
    const instrument = results[index];
    if (!instrument) return;
    close();
    onPick(instrument);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(query, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && results.length) {
      highlight((active + 1) % results.length);
    } else if (event.key === "ArrowUp" && results.length) {
      highlight((active - 1 + results.length) % results.length);
    } else if (event.key === "Enter" && results.length) {
      pick(Math.max(active, 0));
    } else if (event.key === "Escape" && !list.hidden) {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();  // Escape here closes the list, not the instrument panel
  });
  input.addEventListener("blur", close);
  // A press on an option keeps the focus in the box (no blur closing the list first).
  list.addEventListener("mousedown", (event) => event.preventDefault());
  list.addEventListener("click", (event) => {
    const li = event.target.closest("[role=option]");
    if (li) pick(Number(li.dataset.index));
  });
  list.addEventListener("mousemove", (event) => {
    const li = event.target.closest("[role=option]");
    if (li && Number(li.dataset.index) !== active) highlight(Number(li.dataset.index));
  });
}

const topBarBox = document.getElementById("instrument-search");
if (topBarBox) {
  attachSearch(topBarBox, {
    onPick: (instrument) => location.assign(`${CHART_PATH}${instrument.key}`),
  });
}
