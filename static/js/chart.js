// One instrument's candles and volume, drawn by TradingView's lightweight-charts (vendored
// in static/vendor/lightweight-charts/, loaded on first use from the root's
// data-library-src), in a `.js-chart` root (templates/history/_chart.html): the chart page
// /chart/<KEY> (mounted below) and the instrument panel (depth_panel.js calls show/hide).
// History comes from GET /api/v1/bars, then live bars from the page's one socket (socket.js)
// in mode `candles`: `candle_snapshot` and `candle_update`, merged by each bar's start `t`,
// so a reconnect's snapshot and re-fetch neither duplicate nor lose a bar. While the socket
// is down the latest bars are polled. Time axis in IST: the library draws UTC, so each bar
// is drawn at t + 19,800 s; the bars held keep their exact t.

import * as socket from "./socket.js";

const BARS_URL = document.body.dataset.barsUrl || "/api/v1/bars";
const IST_OFFSET_SECONDS = 19800;
const INTRADAY = new Set(["1m", "5m", "15m", "30m", "1h"]);
const POLL_INTERVAL_MS = 5000;  // the latest bars while the socket is down
const POLL_BARS = 20;
const UP = "#0a8f3c";
const DOWN = "#c62828";
const VOLUME_UP = "rgba(10, 143, 60, 0.45)";
const VOLUME_DOWN = "rgba(198, 40, 40, 0.45)";

// --- the bars held -----------------------------------------------------------------------

// One key's bars in one timeframe, by start. A closed bar (history, a snapshot's `bars`)
// always replaces the one held; a live bar (a `forming`, a `candle_update`) replaces one of
// the same start unless it has less volume: a bar's volume only grows, so an answer that
// left before a newer tick arrived never undoes it.
export class BarBook {
  constructor() {
    this.byStart = new Map();
  }

  put(bar, {closed}) {
    if (!bar || typeof bar.t !== "number") return false;
    const held = this.byStart.get(bar.t);
    if (held && !closed && held.v > bar.v) return false;
    this.byStart.set(bar.t, bar);
    return true;
  }

  // An answer of the API or a snapshot: `{bars, forming}`.
  merge({bars = [], forming = null} = {}) {
    for (const bar of bars) this.put(bar, {closed: true});
    this.put(forming, {closed: false});
  }

  sorted() {
    return [...this.byStart.values()].sort((a, b) => a.t - b.t);
  }
}

function candlePoint(bar) {
  return {time: bar.t + IST_OFFSET_SECONDS, open: bar.o, high: bar.h, low: bar.l, close: bar.c};
}

function volumePoint(bar) {
  return {time: bar.t + IST_OFFSET_SECONDS, value: bar.v, color: bar.c >= bar.o ? VOLUME_UP : VOLUME_DOWN};
}

function decimalsOf(tick) {
  return Math.max(2, (String(tick).split(".")[1] || "").length);
}

// The vendored library, a classic script (window.LightweightCharts), added once.
let library = null;
function loadLibrary(src) {
  if (window.LightweightCharts) return Promise.resolve(window.LightweightCharts);
  library ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.addEventListener("load", () => resolve(window.LightweightCharts));
    script.addEventListener("error", () => reject(new Error("the chart library did not load")));
    document.head.append(script);
  });
  return library;
}

// --- a chart -----------------------------------------------------------------------------

export class CandleChart {
  constructor(root) {
    this.root = root;
    root.candleChart = this;  // other scripts (and tests) reach the chart from its root
    this.canvas = root.querySelector(".js-chart-canvas");
    this.status = root.querySelector(".js-chart-status");
    this.tf = root.dataset.tf || "1d";
    this.key = null;
    this.book = new BarBook();
    this.loads = 0;  // each history load of a key and timeframe (root.dataset.loads)
    this.runs = 0;  // each start: a start overtaken while the library loads stops there
    this.lastLink = socket.linkState();
    this.pollTimer = null;
    for (const button of root.querySelectorAll(".js-tf")) {
      button.addEventListener("click", () => this.setTimeframe(button.dataset.tf));
    }
    this.pressButtons();
    socket.on("candle_snapshot", (message) => this.onSnapshot(message));
    socket.on("candle_update", (message) => this.onUpdate(message));
    socket.onLink((link) => this.onLink(link));
  }

  // Shows `key` (a new key, or the same after hide), from its history then live.
  show(key, {tick} = {}) {
    if (key === this.key) return;
    this.hide();
    this.key = key;
    this.tick = Number(tick || this.root.dataset.tick || 0.01);
    this.root.dataset.instrumentKey = key;
    this.start();
  }

  // Stops the live bars (the panel closed or shows another key).
  hide() {
    if (!this.key) return;
    socket.unsubscribe([this.key], {mode: "candles", tf: this.tf});
    this.key = null;
    this.stopPolling();
  }

  // Called by a timeframe button: the history again, and the live bars in `tf`.
  setTimeframe(tf) {
    if (!tf || tf === this.tf) return;
    const key = this.key;
    this.hide();
    this.tf = tf;
    this.root.dataset.tf = tf;
    this.pressButtons();
    if (key) this.show(key);
  }

  pressButtons() {
    for (const button of this.root.querySelectorAll(".js-tf")) {
      button.setAttribute("aria-pressed", String(button.dataset.tf === this.tf));
    }
  }

  async start() {
    const run = ++this.runs;
    this.book = new BarBook();
    this.drawn = null;
    this.historyLoaded = false;
    this.say("Loading…", "loading");
    try {
      await this.ensureChart();
    } catch (problem) {
      this.say(problem.message, "error");
      return;
    }
    if (run !== this.runs || !this.key) return;  // hidden or shown again while it loaded
    this.chart.applyOptions({timeScale: {timeVisible: INTRADAY.has(this.tf), secondsVisible: false}});
    const precision = decimalsOf(this.tick);
    this.candles.applyOptions({priceFormat: {type: "price", precision, minMove: this.tick}});
    this.redraw();
    socket.subscribe([this.key], {mode: "candles", tf: this.tf});
    await this.fetchBars({fresh: true});
    if (run === this.runs && this.key && socket.linkState() !== "open") this.startPolling();
  }

  async ensureChart() {
    if (this.chart) return;
    const charts = await loadLibrary(this.root.dataset.librarySrc);
    this.chart = charts.createChart(this.canvas, {
      autoSize: true,
      // The logo's own inline style is refused by our CSP: the page names the library.
      layout: {attributionLogo: false, background: {color: "#ffffff"}, textColor: "#344054"},
      grid: {vertLines: {color: "#f1f5f9"}, horzLines: {color: "#f1f5f9"}},
      rightPriceScale: {borderColor: "#e4e7ec"},
      timeScale: {borderColor: "#e4e7ec", rightOffset: 3},
    });
    this.candles = this.chart.addSeries(charts.CandlestickSeries, {
      upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false,
    });
    this.volume = this.chart.addSeries(charts.HistogramSeries, {priceFormat: {type: "volume"}}, 1);
    this.chart.panes()[0].setStretchFactor(3);  // the volume pane beneath, a quarter high
  }

  // The key's bars (the latest POLL_BARS when `fresh` is false), merged into those held.
  async fetchBars({fresh}) {
    const key = this.key;
    const tf = this.tf;
    if (!key) return;
    const limit = fresh ? "" : `&limit=${POLL_BARS}`;
    const url = `${BARS_URL}?key=${encodeURIComponent(key)}&tf=${encodeURIComponent(tf)}${limit}`;
    try {
      const response = await fetch(url, {cache: "no-store"});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (key !== this.key || tf !== this.tf) return;  // the chart moved on meanwhile
      this.book.merge(body);
      if (fresh) {
        this.historyLoaded = true;
        this.root.dataset.loads = String(++this.loads);
      }
      this.redraw();
    } catch (problem) {
      if (key === this.key && tf === this.tf && !this.book.byStart.size) {
        this.say("History unavailable right now", "error");
      }
    }
  }

  onSnapshot(message) {
    const mine = this.key && message.tf === this.tf && message.candles?.[this.key];
    if (!mine || !this.chart) return;
    this.book.merge(mine);
    this.redraw();
  }

  // The key's forming bar: the same start moves the last candle; a later start means the
  // one before closed as last sent, and a new candle begins.
  onUpdate(message) {
    const bar = this.key && message.tf === this.tf && message.candles?.[this.key];
    if (!bar || !this.chart || !this.book.put(bar, {closed: false})) return;
    if (this.drawn !== null && bar.t >= this.drawn) {
      this.candles.update(candlePoint(bar));
      this.volume.update(volumePoint(bar));
      this.drawn = bar.t;
      this.mark();
    } else {
      this.redraw();  // an older bar changed (or nothing drawn yet): draw them all again
    }
  }

  // After a reconnect the socket's snapshot brings the last 300 closed bars; the history
  // fills any longer gap. While down, the latest bars are polled.
  onLink(link) {
    const wasDown = this.lastLink !== "open" && this.lastLink !== "connecting";
    this.lastLink = link;
    if (!this.key || !this.chart) return;
    if (link === "open") {
      this.stopPolling();
      if (wasDown) this.fetchBars({fresh: true});
    } else {
      this.startPolling();
    }
  }

  startPolling() {
    this.pollTimer ??= setInterval(() => this.fetchBars({fresh: false}), POLL_INTERVAL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  redraw() {
    if (!this.chart) return;
    const bars = this.book.sorted();
    this.candles.setData(bars.map(candlePoint));
    this.volume.setData(bars.map(volumePoint));
    this.drawn = bars.length ? bars[bars.length - 1].t : null;
    if (bars.length) this.say("", "ready");
    else if (this.historyLoaded) this.say(`No ${this.tf} bars yet`, "empty");
    this.mark();
  }

  // What the chart shows, on the root for scripts and tests: its bar count and last bar.
  mark() {
    const last = this.book.byStart.get(this.drawn);
    this.root.dataset.bars = String(this.book.byStart.size);
    this.root.dataset.lastTime = last ? String(last.t) : "";
    this.root.dataset.lastClose = last ? String(last.c) : "";
  }

  say(text, state) {
    this.root.dataset.state = state;
    if (this.status) this.status.textContent = text;
  }
}

// The chart page: its chart shows the page's key at once.
for (const root of document.querySelectorAll(".js-chart[data-instrument-key]")) {
  new CandleChart(root).show(root.dataset.instrumentKey);
}
