// Live prices on every page (templates/base.html loads it): every `.js-ltp-cell
// [data-instrument-key]` (the index strip's and a screener's rows), the day's change in
// `.js-change-cell`, the day's high, low and volume in `.js-quote-cell[data-field]`, and the
// feed's state in `#feed-status` where the page has one. Prices and quotes come through the
// page's one socket (socket.js: ltp and quote mode, or its polling fallback). A price cell
// and its change cell are coloured from the change from the previous close; a tick only
// flashes the cell (`flash` with `tick-up` or `tick-down`), without touching that colour.

import * as socket from "./socket.js";
import {dayChange, directionOf, fixed, quantity, setDirection} from "./format.js";

const FLASH_MS = 500;
const STATUS_TEXT = {
  connecting: "Connecting…", live: "Live", stale: "Feed stale", market_closed: "Market closed",
  not_running: "Feed not running", polling: "Polling", unavailable: "Prices unavailable",
};
const STATUS_TITLE = {  // the badge's tooltip, where its text needs more words than fit
  polling: "The live socket is unavailable: prices are fetched every 1.5 s until it is back.",
};

function byKey(selector) {
  const found = new Map();  // key -> [cells]
  for (const cell of document.querySelectorAll(selector)) {
    const key = cell.dataset.instrumentKey;
    if (!found.has(key)) found.set(key, []);
    found.get(key).push(cell);
  }
  return found;
}

const cells = byKey(".js-ltp-cell[data-instrument-key]");
const changeCells = byKey(".js-change-cell[data-instrument-key]");
const quoteCells = byKey(".js-quote-cell[data-instrument-key]");
const keys = [...cells.keys()];
const statusEl = document.getElementById("feed-status");
let feedStatus = statusEl?.dataset.marketOpen === "false" ? "market_closed" : "connecting";

function decimals(cell) {
  const tick = cell.dataset.tick || "0.01";
  return Math.max(2, (tick.split(".")[1] || "").length);
}

// --- the feed's state --------------------------------------------------------------------

function renderStatus() {
  if (!statusEl) return;
  const link = socket.linkState();
  const status = link === "polling" || link === "unavailable" ? link : feedStatus;
  statusEl.textContent = STATUS_TEXT[status] || status;
  statusEl.title = STATUS_TITLE[status] || "";
  statusEl.className = `feed-status ${status}`;
  statusEl.dataset.status = status;
}

// --- prices and the day's change ---------------------------------------------------------

function flash(cell, tick) {
  cell.classList.remove("flash", "tick-up", "tick-down");
  void cell.offsetWidth;  // restart the flash animation
  cell.classList.add("flash", tick);
  clearTimeout(cell.flashTimer);
  cell.flashTimer = setTimeout(() => cell.classList.remove("flash"), FLASH_MS);
}

// The change from the previous close, in the key's change cells, each coloured by the figure
// it shows (the change, or the % in a compact cell: a figure shown as 0.00 is uncoloured),
// and its price cells coloured as their change cell. Called when a price or a previous close
// arrives, and once at load.
function showChange(key) {
  const cell = cells.get(key)?.find((c) => c.dataset.price !== undefined && c.dataset.prevClose);
  const day = cell && dayChange(Number(cell.dataset.price), Number(cell.dataset.prevClose));
  if (!day) return;
  const shown = (changeCell) => (changeCell?.dataset.compact ? day.pct : day.change);
  const direction = directionOf(shown(changeCells.get(key)?.[0]));
  for (const priceCell of cells.get(key)) setDirection(priceCell, direction);
  for (const changeCell of changeCells.get(key) || []) {
    const span = document.createElement("span");
    span.className = directionOf(shown(changeCell));
    span.textContent = changeCell.dataset.compact ? `${fixed(day.pct)}%`
      : `${fixed(day.change)} (${fixed(day.pct)}%)`;
    changeCell.dataset.changePct = String(day.pct);
    changeCell.replaceChildren(span);
  }
}

function applyPrice(key, price) {
  if (typeof price !== "number" || !Number.isFinite(price)) return;
  let moved = false;
  for (const cell of cells.get(key) || []) {
    const previous = cell.dataset.price === undefined ? null : Number(cell.dataset.price);
    cell.classList.remove("unavailable", "stale");
    if (previous === price) continue;
    moved = true;
    cell.dataset.price = String(price);
    cell.textContent = price.toFixed(decimals(cell));
    if (previous !== null) flash(cell, price > previous ? "tick-up" : "tick-down");
  }
  if (moved) showChange(key);
}

function applyPrices(message) {
  for (const [key, price] of Object.entries(message.prices || {})) applyPrice(key, price);
}

// A QUOTE: the day's high, low and volume, and the previous close the change is made from.
function applyQuotes(message) {
  for (const [key, quote] of Object.entries(message.quotes || {})) {
    if (quote.prev_close) {
      for (const cell of cells.get(key) || []) cell.dataset.prevClose = String(quote.prev_close);
      showChange(key);
    }
    for (const cell of quoteCells.get(key) || []) {
      const value = quote[cell.dataset.field];
      if (typeof value !== "number") continue;
      cell.textContent = cell.dataset.tick ? value.toFixed(decimals(cell)) : quantity(value);
    }
  }
}

socket.on("snapshot", applyPrices);
socket.on("screener_ltp_update", applyPrices);
socket.on("quote_snapshot", applyQuotes);
socket.on("quote_update", applyQuotes);
socket.on("status", (message) => {
  feedStatus = message.feed;
  renderStatus();
});
socket.onLink(renderStatus);
keys.forEach(showChange);  // the server's figures, coloured by the same rule as live ones
renderStatus();
if (keys.length) {
  socket.subscribe(keys);
  socket.subscribe(keys, {mode: "quote"});
}
