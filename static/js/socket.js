// The page's one WebSocket to /ws/dashboard/ (docs/contract.md), shared by every script on
// every page (they import this module; never load it by its own <script> tag, or the page
// gets a second instance): subscriptions by mode (ltp, quote, depth, candles per timeframe),
// the signed-in user's streams (`subscribe_orders`, `subscribe_portfolio`) and handlers by
// message type. One reconnect, with full-jitter exponential backoff, sends every
// subscription again. While the socket is down and the tab is visible, the modes that have
// an HTTP twin are polled every 1.5 s and the answers handed to the same handlers as
// snapshots. The URLs come from <body data-ws-path data-poll-url data-quotes-url
// data-depth-url data-poll-interval-ms> (templates/base.html).

const config = document.body.dataset;
const WS_PATH = config.wsPath || "/ws/dashboard/";
const PRICES_URL = config.pollUrl || "/api/v1/current_prices";
const QUOTES_URL = config.quotesUrl || "/api/v1/quotes";
const DEPTH_URL = config.depthUrl || "/api/v1/depth";
const POLL_INTERVAL_MS = Number(config.pollIntervalMs || 1500);
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30000;

const keyList = (keys) => encodeURIComponent(keys.join(","));
// The modes polled while the socket is down: for a mode's keys, the requests to make, each
// with the message its answer stands for (and whether a 404, "nothing known yet", is normal).
const POLLED = {
  ltp: (keys) => [{url: `${PRICES_URL}?keys=${keyList(keys)}`,
    message: (body) => ({type: "snapshot", prices: body.prices})}],
  quote: (keys) => [{url: `${QUOTES_URL}?keys=${keyList(keys)}`,
    message: (body) => ({type: "quote_snapshot", quotes: body.quotes})}],
  depth: (keys) => keys.map((key) => ({url: `${DEPTH_URL}?key=${encodeURIComponent(key)}`,
    message: (body) => ({type: "depth_snapshot", depth: {[key]: body}}), mayBeMissing: true})),
};

const subscribed = new Map();  // mode ("candles:1m" for candles in a timeframe) -> Set of keys
const streams = new Set();  // actions sent on every open: "subscribe_orders", ...
const handlers = new Map();  // message type -> [handler]
const linkListeners = [];
let socket = null;
let socketOpen = false;
let attempts = 0;
let reconnectTimer = null;
let pollTimer = null;
let link = "connecting";  // connecting | open | polling | unavailable

// --- what the pages call ---------------------------------------------------------------

// `handler(message)` for each message of `type`, from the socket or from a poll.
export function on(type, handler) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(handler);
}

// `listener(link)` whenever the link changes: "open", "polling", "unavailable".
export function onLink(listener) {
  linkListeners.push(listener);
}

export function linkState() {
  return link;
}

// Keys to get in `mode` (ltp when omitted; candles in timeframe `tf`); kept across
// reconnects.
export function subscribe(keys, {mode = "ltp", tf = null} = {}) {
  const slot = tf ? `${mode}:${tf}` : mode;
  if (!subscribed.has(slot)) subscribed.set(slot, new Set());
  const held = subscribed.get(slot);
  const added = keys.filter((key) => !held.has(key));
  added.forEach((key) => held.add(key));
  if (added.length) sendIfOpen(subscribeMessage("subscribe", slot, added));
  if (added.length && pollTimer) pollOnce();
  connect();
}

export function unsubscribe(keys, {mode = "ltp", tf = null} = {}) {
  const slot = tf ? `${mode}:${tf}` : mode;
  const held = subscribed.get(slot);
  const removed = keys.filter((key) => held?.delete(key));
  if (removed.length) sendIfOpen(subscribeMessage("unsubscribe", slot, removed));
}

// A stream of the signed-in user's (`subscribe_orders`, `subscribe_portfolio`), asked for
// now and on every reconnect.
export function request(action) {
  if (streams.has(action)) return;
  streams.add(action);
  sendIfOpen({action});
  connect();
}

// --- the socket ------------------------------------------------------------------------

function subscribeMessage(action, slot, keys) {
  const [mode, tf] = slot.split(":");
  // ltp is the contract's default mode: its messages stay as they always were.
  if (mode === "ltp") return {action, keys};
  return tf ? {action, mode, tf, keys} : {action, mode, keys};
}

function sendIfOpen(message) {
  if (socket && socketOpen) socket.send(JSON.stringify(message));
}

function dispatch(message) {
  for (const handler of handlers.get(message.type) || []) handler(message);
}

function setLink(state) {
  if (state === link) return;
  link = state;
  for (const listener of linkListeners) listener(state);
}

function onOpen() {
  socketOpen = true;
  attempts = 0;
  stopPolling();
  for (const [mode, keys] of subscribed) {
    if (keys.size) socket.send(JSON.stringify(subscribeMessage("subscribe", mode, [...keys])));
  }
  for (const action of streams) socket.send(JSON.stringify({action}));
  setLink("open");
}

function onMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;  // not ours to show: the server sends JSON only
  }
  if (message.type === "error") console.warn("live socket:", message.error);
  dispatch(message);
}

function onClose() {
  socket = null;
  socketOpen = false;
  startPolling();
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(reconnectTimer);
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempts, 10));
  attempts += 1;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    connect();
  }, Math.random() * ceiling);  // full jitter
}

function connect() {
  if (socket || reconnectTimer) return;  // open, opening, or a retry is due
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  try {
    socket = new WebSocket(`${scheme}://${location.host}${WS_PATH}`);
  } catch {
    onClose();
    return;
  }
  socket.addEventListener("open", onOpen);
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", onClose);
}

// --- the polling fallback --------------------------------------------------------------

async function pollOnce() {
  if (document.visibilityState === "hidden") return;
  const requests = [];
  for (const [mode, keys] of subscribed) {
    if (keys.size && POLLED[mode]) requests.push(...POLLED[mode]([...keys]));
  }
  if (!requests.length) return;
  try {
    for (const {url, message, mayBeMissing} of requests) {
      const response = await fetch(url, {cache: "no-store"});
      if (response.status === 404 && mayBeMissing) continue;
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      dispatch(message(await response.json()));
    }
    if (!socketOpen) setLink("polling");
  } catch {
    if (!socketOpen) setLink("unavailable");
  }
}

function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(pollOnce, POLL_INTERVAL_MS);
  setLink("polling");
  pollOnce();
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && pollTimer) pollOnce();
});
