// Live prices for server-rendered tables: every `.js-ltp-cell[data-instrument-key]` on the
// page, and the day's high, low and volume in `.js-quote-cell[data-field]`. WebSocket first
// (/ws/dashboard/: subscribe in ltp and quote mode, snapshots, updates, status); when the
// socket cannot connect or drops, poll /api/v1/current_prices and /api/v1/quotes every
// 1.5 s and keep retrying the socket with jittered backoff. Hidden tabs do not poll.
// The instrument panel (depth_panel.js) subscribes its row in depth mode through this
// socket (or polls /api/v1/depth); the Change header sorts the rows by live change %.

import * as depthPanel from "./depth_panel.js";

const script = document.currentScript || document.querySelector("script[data-ws-path]");
const WS_PATH = script?.dataset.wsPath || "/ws/dashboard/";
const POLL_URL = script?.dataset.pollUrl || "/api/v1/current_prices";
const QUOTES_URL = script?.dataset.quotesUrl || "/api/v1/quotes";
const DEPTH_URL = script?.dataset.depthUrl || "/api/v1/depth";
const POLL_INTERVAL_MS = Number(script?.dataset.pollIntervalMs || 1500);
const FLASH_MS = 500;
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const STATUS_TEXT = {
  connecting: "Connecting…", live: "Live", stale: "Feed stale", market_closed: "Market closed",
  not_running: "Feed not running", polling: "Polling (live socket unavailable)",
  unavailable: "Prices unavailable",
};

const cells = new Map();  // key -> [price cells]
const changeCells = new Map();  // key -> [change cells]
for (const cell of document.querySelectorAll(".js-ltp-cell[data-instrument-key]")) {
  const key = cell.dataset.instrumentKey;
  if (!cells.has(key)) cells.set(key, []);
  cells.get(key).push(cell);
}
for (const cell of document.querySelectorAll(".js-change-cell[data-instrument-key]")) {
  const key = cell.dataset.instrumentKey;
  if (!changeCells.has(key)) changeCells.set(key, []);
  changeCells.get(key).push(cell);
}
const quoteCells = new Map();  // key -> [day high/low/volume cells]
for (const cell of document.querySelectorAll(".js-quote-cell[data-instrument-key]")) {
  const key = cell.dataset.instrumentKey;
  if (!quoteCells.has(key)) quoteCells.set(key, []);
  quoteCells.get(key).push(cell);
}
const keys = [...cells.keys()];
const statusEl = document.getElementById("feed-status");
const marketOpen = statusEl?.dataset.marketOpen !== "false";

let socket = null;
let socketOpen = false;
let feedStatus = marketOpen ? "connecting" : "market_closed";
let attempts = 0;
let reconnectTimer = null;
let pollTimer = null;

function decimals(cell) {
  const tick = cell.dataset.tick || "0.01";
  const places = (tick.split(".")[1] || "").length;
  return Math.max(2, places);
}

function showStatus(status) {
  if (!statusEl) return;
  statusEl.textContent = STATUS_TEXT[status] || status;
  statusEl.className = `feed-status ${status}`;
  statusEl.dataset.status = status;
}

function renderStatus() {
  showStatus(socketOpen ? feedStatus : (pollTimer ? "polling" : feedStatus));
}

function applyPrice(key, price) {
  if (typeof price !== "number" || !Number.isFinite(price)) return;
  for (const cell of cells.get(key) || []) {
    const previous = cell.dataset.price === undefined ? null : Number(cell.dataset.price);
    cell.classList.remove("unavailable", "stale");
    if (previous === price) continue;
    cell.dataset.price = String(price);
    cell.textContent = price.toFixed(decimals(cell));
    if (previous !== null) {
      cell.classList.remove("up", "down", "flash");
      void cell.offsetWidth;  // restart the flash animation
      cell.classList.add(price > previous ? "up" : "down", "flash");
      clearTimeout(cell._flashTimer);
      cell._flashTimer = setTimeout(() => cell.classList.remove("flash"), FLASH_MS);
    }
    showChange(key, price, Number(cell.dataset.prevClose));
  }
}

function showChange(key, price, prevClose) {
  if (!prevClose) return;
  const change = price - prevClose;
  const pct = (change / prevClose) * 100;
  for (const changeCell of changeCells.get(key) || []) {
    const sign = change > 0 ? "up" : change < 0 ? "down" : "";
    changeCell.dataset.changePct = String(pct);
    const text = changeCell.dataset.compact ? `${pct.toFixed(2)}%`
      : `${change.toFixed(2)} (${pct.toFixed(2)}%)`;
    changeCell.innerHTML = `<span class="${sign}">${text}</span>`;
  }
}

// The Change header sorts the table by today's change %, as it is now (click again to
// reverse); rows without a change go last.
let sortDescending = true;
document.getElementById("sort-change")?.addEventListener("click", () => {
  const body = document.querySelector("#screener-table tbody");
  if (!body) return;
  const pct = (row) => {
    const value = row.querySelector(".js-change-cell")?.dataset.changePct;
    return value === undefined ? null : Number(value);
  };
  const rows = [...body.rows].sort((a, b) => {
    const x = pct(a);
    const y = pct(b);
    if (x === null || y === null) return (x === null) - (y === null);
    return sortDescending ? y - x : x - y;
  });
  body.append(...rows);
  document.getElementById("sort-change").dataset.direction = sortDescending ? "desc" : "asc";
  sortDescending = !sortDescending;
});

function applyPrices(prices) {
  for (const [key, price] of Object.entries(prices || {})) applyPrice(key, price);
}

// A QUOTE: the day's high, low and volume, and the previous close the change is made from.
function applyQuotes(quotes) {
  depthPanel.applyQuotes(quotes);
  for (const [key, quote] of Object.entries(quotes || {})) {
    if (quote.prev_close) {
      for (const cell of cells.get(key) || []) {
        cell.dataset.prevClose = String(quote.prev_close);
        if (cell.dataset.price !== undefined) {
          showChange(key, Number(cell.dataset.price), quote.prev_close);
        }
      }
    }
    for (const cell of quoteCells.get(key) || []) {
      const value = quote[cell.dataset.field];
      if (typeof value !== "number") continue;
      cell.textContent = cell.dataset.tick ? value.toFixed(decimals(cell))
        : value.toLocaleString("en-IN");  // volume: Indian digit grouping
    }
  }
}

// --- polling fallback ---------------------------------------------------------------

async function pollOnce() {
  if (document.visibilityState === "hidden" || !keys.length) return;
  try {
    const response = await fetch(`${POLL_URL}?keys=${encodeURIComponent(keys.join(","))}`,
                                 {cache: "no-store"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    applyPrices(body.prices);
    if (quoteCells.size || changeCells.size) {
      const quotes = await fetch(`${QUOTES_URL}?keys=${encodeURIComponent(keys.join(","))}`,
                                 {cache: "no-store"});
      if (quotes.ok) applyQuotes((await quotes.json()).quotes);
    }
    const shown = depthPanel.currentKey();
    if (shown) {
      const depth = await fetch(`${DEPTH_URL}?key=${encodeURIComponent(shown)}`, {cache: "no-store"});
      if (depth.ok) depthPanel.applyBooks({[shown]: await depth.json()});
    }
    if (!socketOpen) showStatus("polling");
  } catch (error) {
    if (!socketOpen) showStatus("unavailable");
  }
}

function startPolling() {
  if (pollTimer || !keys.length) return;
  pollTimer = setInterval(pollOnce, POLL_INTERVAL_MS);
  pollOnce();
  renderStatus();
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && pollTimer) pollOnce();
});

// --- the socket ---------------------------------------------------------------------

function scheduleReconnect() {
  clearTimeout(reconnectTimer);
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempts, 10));
  attempts += 1;
  reconnectTimer = setTimeout(connect, Math.random() * ceiling);  // full jitter
}

function onMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  switch (message.type) {
    case "snapshot":
    case "screener_ltp_update":
      applyPrices(message.prices);
      break;
    case "quote_snapshot":
    case "quote_update":
      applyQuotes(message.quotes);
      break;
    case "depth_snapshot":
    case "depth_update":
      depthPanel.applyBooks(message.depth);
      break;
    case "status":
      feedStatus = message.feed;
      renderStatus();
      break;
    case "error":
      console.warn("live prices:", message.error);
      break;
  }
}

function connect() {
  if (socket) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${scheme}://${location.host}${WS_PATH}`);
  } catch {
    startPolling();
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    socketOpen = true;
    attempts = 0;
    stopPolling();
    if (keys.length) ws.send(JSON.stringify({action: "subscribe", keys}));
    if (keys.length) ws.send(JSON.stringify({action: "subscribe", mode: "quote", keys}));
    const shown = depthPanel.currentKey();
    if (shown) ws.send(JSON.stringify({action: "subscribe", mode: "depth", keys: [shown]}));
    renderStatus();
  });
  ws.addEventListener("message", onMessage);
  ws.addEventListener("close", () => {
    socket = null;
    socketOpen = false;
    startPolling();
    scheduleReconnect();
    renderStatus();
  });
}

// The panel's depth subscription rides this socket; when it is down, polling covers it.
function sendWhenOpen(message) {
  if (socket && socketOpen) socket.send(JSON.stringify(message));
}

depthPanel.connect({
  subscribe: (key) => {
    sendWhenOpen({action: "subscribe", mode: "depth", keys: [key]});
    if (!keys.includes(key)) sendWhenOpen({action: "subscribe", mode: "quote", keys: [key]});
    if (pollTimer) pollOnce();
  },
  unsubscribe: (key) => sendWhenOpen({action: "unsubscribe", mode: "depth", keys: [key]}),
});

window.liveprices = {keys, state: () => ({socketOpen, polling: Boolean(pollTimer), feedStatus})};
showStatus(feedStatus);
connect();
