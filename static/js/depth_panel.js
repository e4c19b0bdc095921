// The instrument panel of a screener page: a row's quote and its order book as a depth
// ladder (20 levels while DhanHQ's depth socket serves the instrument, else full mode's 5,
// said under the title), with quantity bars, the spread and total bid and ask quantity.
// Opening it subscribes the row in depth (and quote) mode on the page's one socket
// (socket.js), closing it unsubscribes depth; socket.js polls /api/v1/depth instead while
// the socket is down. OI shows for derivatives only, or wherever it is not zero.

import * as socket from "./socket.js";
import {fixed, quantity} from "./format.js";

const panel = document.getElementById("instrument-panel");
let current = null;  // the key shown, or null
const lastQuotes = new Map();  // key -> the last QUOTE seen, shown at once when a row opens

const QUOTE_FIELDS = [
  ["ltp", "LTP"], ["change_pct", "Change %"], ["open", "Open"], ["high", "High"],
  ["low", "Low"], ["prev_close", "Prev close"], ["atp", "Avg price"], ["volume", "Volume"],
  ["total_buy_qty", "Total buy qty"], ["total_sell_qty", "Total sell qty"], ["oi", "OI"],
];
const QUANTITIES = new Set(["volume", "total_buy_qty", "total_sell_qty", "oi"]);
// Segments with open interest (docs/contract.md "Instrument keys"): futures and options.
const DERIVATIVE_SEGMENTS = new Set([
  "NSE_FNO", "BSE_FNO", "MCX_COMM", "NSE_CURRENCY", "BSE_CURRENCY",
]);

function fmt(value, field) {
  if (typeof value !== "number") return "—";
  if (field === "change_pct") return `${fixed(value)}%`;
  return QUANTITIES.has(field) ? quantity(value) : value.toFixed(2);
}

function showsOi(key, quote) {
  const derivative = DERIVATIVE_SEGMENTS.has(key.split(":")[0]);
  return derivative || (typeof quote.oi === "number" && quote.oi !== 0);
}

function open(key, title) {
  if (!panel) return;
  if (current && current !== key) socket.unsubscribe([current], {mode: "depth"});
  current = key;
  panel.querySelector(".js-panel-title").textContent = title;
  panel.querySelector(".js-ladder").replaceChildren();
  panel.querySelector(".js-panel-source").textContent = "Loading the order book…";
  panel.hidden = false;
  panel.dataset.instrumentKey = key;
  const quote = lastQuotes.get(key);
  if (quote) showQuote(quote);
  else panel.querySelector(".js-panel-quote").replaceChildren();
  socket.subscribe([key], {mode: "depth"});
  socket.subscribe([key], {mode: "quote"});  // held already when the row is live
}

function close() {
  if (!panel || !current) return;
  socket.unsubscribe([current], {mode: "depth"});
  current = null;
  panel.hidden = true;
  delete panel.dataset.instrumentKey;
}

function applyQuotes(message) {
  for (const [key, quote] of Object.entries(message.quotes || {})) lastQuotes.set(key, quote);
  if (current && message.quotes?.[current]) showQuote(message.quotes[current]);
}

function showQuote(quote) {
  const fields = QUOTE_FIELDS.filter(([field]) => field !== "oi" || showsOi(current, quote));
  panel.querySelector(".js-panel-quote").replaceChildren(...fields.flatMap(([field, label]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = fmt(quote[field], field);
    return [dt, dd];
  }));
}

function cell(text, className) {
  const td = document.createElement("td");
  td.className = `num ${className || ""}`;
  td.textContent = text;
  return td;
}

function bar(amount, most, side) {
  const td = cell(quantity(amount), `qty ${side}`);
  td.style.setProperty("--fill", `${Math.round((amount / most) * 100)}%`);
  return td;
}

function applyBooks(message) {
  const book = current && message.depth?.[current];
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
  panel.querySelector(".js-total-bid").textContent = `Bid qty ${quantity(total(book.bids))}`;
  panel.querySelector(".js-total-ask").textContent = `Ask qty ${quantity(total(book.asks))}`;
  const spread = book.bids[0] && book.asks[0] ? (book.asks[0].price - book.bids[0].price).toFixed(2) : "—";
  panel.querySelector(".js-spread").textContent = `Spread ${spread}`;
  panel.querySelector(".js-panel-source").textContent = book.source === "depth20"
    ? `${book.levels} levels (20-level depth feed)` : `${book.levels} levels (full-mode quote)`;
  panel.dataset.levels = String(book.levels);
  panel.dataset.source = book.source;
}

socket.on("depth_snapshot", applyBooks);
socket.on("depth_update", applyBooks);
socket.on("quote_snapshot", applyQuotes);
socket.on("quote_update", applyQuotes);

// Rows open the panel; Escape and the close button close it.
for (const row of document.querySelectorAll(".js-row[data-instrument-key]")) {
  const openRow = () => open(row.dataset.instrumentKey, row.dataset.symbol || row.dataset.instrumentKey);
  row.addEventListener("click", openRow);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") openRow(); });
}
panel?.querySelector(".js-panel-close")?.addEventListener("click", close);
document.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
