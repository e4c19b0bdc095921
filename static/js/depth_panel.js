// The instrument panel (templates/screeners/_instrument_panel.html): a row's quote, its chart
// (chart.js) and its order book as a depth ladder (20 levels while DhanHQ's depth socket
// serves the instrument, else full mode's 5, said under the title), with quantity bars, the
// spread and total bid and ask quantity. A screener's row, an order, a holding or an alert
// opens it. Opening subscribes the row in depth (and quote) mode on the page's one socket
// (socket.js), and its candles; closing unsubscribes both; socket.js polls /api/v1/depth
// instead while the socket is down. OI shows for derivatives only, or wherever it is not zero.

import * as socket from "./socket.js";
import {CandleChart} from "./chart.js";
import {fixed, quantity} from "./format.js";

const panel = document.getElementById("instrument-panel");
const CHART_PATH = document.body.dataset.chartPath || "/chart/";
let current = null;  // the key shown, or null
let chart = null;  // the panel's CandleChart, made when the panel first opens
const lastQuotes = new Map();  // key -> the last QUOTE seen, shown at once when a row opens
// The rows orders.js and portfolio.js draw carry no key: it comes from their messages.
const orders = new Map();  // order_no -> {key, symbol}
let holdings = [];  // the portfolio table's rows, in order: [{key, symbol}]

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

function open(key, title, {tick} = {}) {
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
  panel.querySelector(".js-panel-chart-link").href = `${CHART_PATH}${key}`;
  const chartRoot = panel.querySelector(".js-chart");
  if (chartRoot) {
    chart ??= new CandleChart(chartRoot);
    chart.show(key, {tick});
  }
}

function close() {
  if (!panel || !current) return;
  socket.unsubscribe([current], {mode: "depth"});
  chart?.hide();
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

// --- rows that open the panel --------------------------------------------------------------

socket.on("orders_snapshot", (message) => message.orders.forEach(noteOrder));
socket.on("order_update", (message) => noteOrder(message.order));
socket.on("portfolio_update", (message) => {
  holdings = message.portfolio.holdings.map(({key, symbol}) => ({key, symbol}));
});

function noteOrder(order) {
  if (order?.key) orders.set(order.order_no, {key: order.key, symbol: order.symbol});
}

// A row's instrument, {key, symbol}: its own (a screener's rows, alerts, the holdings the
// server drew) or its message's (orders and holdings drawn live).
function instrumentOf(row) {
  const {instrumentKey, symbol, orderNo} = row.dataset;
  if (instrumentKey) return {key: instrumentKey, symbol};
  if (orderNo) return orders.get(orderNo);
  return row.closest("#portfolio-table") ? holdings[row.sectionRowIndex] : undefined;
}

function openRow(row) {
  const instrument = instrumentOf(row);
  const tick = row.querySelector("[data-tick]")?.dataset.tick;  // a screener's price cell
  if (instrument?.key) open(instrument.key, instrument.symbol || instrument.key, {tick});
}

// Rows (drawn now or later) open the panel, but not their links, buttons and forms;
// Escape and the close button close it.
const ROWS = "tr.js-row, .js-panel-rows > tbody > tr:not(.empty):not(.event)";
document.addEventListener("click", (event) => {
  const row = event.target.closest(ROWS);
  if (row && panel && !event.target.closest("a, button, input, select, form")) openRow(row);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") close();
  else if (event.key === "Enter" && event.target.matches?.(ROWS)) openRow(event.target);
});
panel?.querySelector(".js-panel-close")?.addEventListener("click", close);
