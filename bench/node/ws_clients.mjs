// An independent client for the fan-out benchmark (bench/bench_clients.py): N WebSocket
// clients on /ws/dashboard/, each subscribing one page of keys, opened as fast as the
// server accepts them; after a pause, every screener_ltp_update's delay (arrival - the
// window's `ts`) is recorded for the measuring period. Prints "connected", "measuring",
// then one JSON line of figures.
// Usage: node ws_clients.mjs URL CLIENTS PAGES_JSON WARMUP_S MEASURE_S
import WebSocket from "ws";

const [url, clientsText, pagesText, warmupText, measureText] = process.argv.slice(2);
const CLIENTS = Number(clientsText);
const PAGES = JSON.parse(pagesText);
const WARMUP_MS = Number(warmupText) * 1000;
const MEASURE_MS = Number(measureText) * 1000;
const IN_FLIGHT = 500; // handshakes at once

const delays = [];
const perClient = new Array(CLIENTS).fill(0);
let measuring = false;
let opened = 0;
let failed = 0;
const sockets = [];

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on("open", () => {
      ws.send(JSON.stringify({ action: "subscribe", keys: PAGES[i % PAGES.length] }));
      opened += 1;
      resolve();
    });
    ws.on("message", (data) => {
      if (!measuring) return;
      const text = data.toString();
      if (!text.startsWith('{"type":"screener_ltp_update"')) return;
      const start = text.indexOf('"ts":') + 5;
      const ts = Number(text.slice(start, text.indexOf(",", start)));
      delays.push(Date.now() - ts * 1000);
      perClient[i] += 1;
    });
    ws.on("error", () => { failed += 1; resolve(); });
    sockets.push(ws);
  });
}

const started = performance.now();
let next = 0;
async function worker() {
  while (next < CLIENTS) await open(next++);
}
await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
const connectSeconds = (performance.now() - started) / 1000;
console.log("connected");
await new Promise((r) => setTimeout(r, WARMUP_MS));
console.log("measuring");
measuring = true;
await new Promise((r) => setTimeout(r, MEASURE_MS));
measuring = false;
delays.sort((a, b) => a - b);
const at = (q) => (delays.length ? delays[Math.min(delays.length - 1, Math.floor(delays.length * q))] : null);
console.log(JSON.stringify({
  clients: CLIENTS, opened, failed, connect_seconds: connectSeconds,
  deliveries: delays.length, p50_ms: at(0.5), p99_ms: at(0.99),
  min_per_client: Math.min(...perClient), max_per_client: Math.max(...perClient),
}));
for (const ws of sockets) ws.terminate();
process.exit(0);
