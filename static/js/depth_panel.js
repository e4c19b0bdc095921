// The instrument panel of a screener page: a row's quote and its order book as a depth
// ladder (20 levels while DhanHQ's depth socket serves the instrument, else full mode's 5,
// said under the title), with quantity bars, the spread and total bid and ask quantity.
// live_prices.js owns the socket: it calls `open`/`close` hooks to subscribe and
// unsubscribe in depth mode, and hands the panel every depth and quote message.

const panel = document.getElementById("instrument-panel");
let current = null;  // the key shown, or null
let hooks = {subscribe: () => {}, unsubscribe: () => {}, poll: () => {}};

const QUOTE_FIELDS = [
  ["ltp", "LTP"], ["change_pct", "Change %"], ["open", "Open"], ["high", "High"],
  ["low", "Low"], ["prev_close", "Prev close"], ["atp", "Avg price"], ["volume", "Volume"],
  ["total_buy_qty", "Total buy qty"], ["total_sell_qty", "Total sell qty"], ["oi", "OI"],
];

function fmt(value, field) {
  if (typeof value !== "number") return "—";
  if (["volume", "total_buy_qty", "total_sell_qty", "oi"].includes(field)) {
    return value.toLocaleString("en-IN");
  }
  return value.toFixed(2);
}

export function currentKey() {
  return current;
}

export function connect(newHooks) {
  hooks = {...hooks, ...newHooks};
}

export function open(key, title) {
  if (!panel) return;
  if (current && current !== key) hooks.unsubscribe(current);
  current = key;
  panel.querySelector(".js-panel-title").textContent = title;
  panel.querySelector(".js-ladder").replaceChildren();
  panel.querySelector(".js-panel-source").textContent = "Loading the order book…";
  panel.hidden = false;
  panel.dataset.instrumentKey = key;
  hooks.subscribe(key);
}

export function close() {
  if (!panel || !current) return;
  hooks.unsubscribe(current);
  current = null;
  panel.hidden = true;
  delete panel.dataset.instrumentKey;
}

export function applyQuotes(quotes) {
  const quote = current && quotes?.[current];
  if (!quote) return;
  const list = panel.querySelector(".js-panel-quote");
  list.replaceChildren(...QUOTE_FIELDS.flatMap(([field, label]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = field === "change_pct" && typeof quote[field] === "number"
      ? `${quote[field].toFixed(2)}%` : fmt(quote[field], field);
    return [dt, dd];
  }));
}

function cell(text, className) {
  const td = document.createElement("td");
  td.className = `num ${className || ""}`;
  td.textContent = text;
  return td;
}

function bar(quantity, most, side) {
  const td = cell(quantity.toLocaleString("en-IN"), `qty ${side}`);
  td.style.setProperty("--fill", `${Math.round((quantity / most) * 100)}%`);
  return td;
}

export function applyBooks(books) {
  const book = current && books?.[current];
  if (!book) return;
  const rows = Math.max(book.bids.length, book.asks.length);
  const most = Math.max(1, ...book.bids.map((l) => l.quantity), ...book.asks.map((l) => l.quantity));
  const ladder = [];
  for (let i = 0; i < rows; i += 1) {
    const bid = book.bids[i];
    const ask = book.asks[i];
    const tr = document.createElement("tr");
    tr.append(
      cell(bid ? String(bid.orders) : ""), bid ? bar(bid.quantity, most, "bid") : cell(""),
      cell(bid ? bid.price.toFixed(2) : "", "bid"), cell(ask ? ask.price.toFixed(2) : "", "ask"),
      ask ? bar(ask.quantity, most, "ask") : cell(""), cell(ask ? String(ask.orders) : ""),
    );
    ladder.push(tr);
  }
  panel.querySelector(".js-ladder").replaceChildren(...ladder);
  const total = (levels) => levels.reduce((sum, l) => sum + l.quantity, 0);
  panel.querySelector(".js-total-bid").textContent = `Bid qty ${total(book.bids).toLocaleString("en-IN")}`;
  panel.querySelector(".js-total-ask").textContent = `Ask qty ${total(book.asks).toLocaleString("en-IN")}`;
  const spread = book.bids[0] && book.asks[0] ? (book.asks[0].price - book.bids[0].price).toFixed(2) : "—";
  panel.querySelector(".js-spread").textContent = `Spread ${spread}`;
  panel.querySelector(".js-panel-source").textContent = book.source === "depth20"
    ? `${book.levels} levels (20-level depth feed)` : `${book.levels} levels (full-mode quote)`;
  panel.dataset.levels = String(book.levels);
  panel.dataset.source = book.source;
}

// Rows open the panel; Escape and the close button close it.
for (const row of document.querySelectorAll(".js-row[data-instrument-key]")) {
  const openRow = () => open(row.dataset.instrumentKey, row.dataset.symbol || row.dataset.instrumentKey);
  row.addEventListener("click", openRow);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") openRow(); });
}
panel?.querySelector(".js-panel-close")?.addEventListener("click", close);
document.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
