// A signed-in user's toasts on every page (templates/base.html loads it for them): one when
// an order of theirs fills, part-fills, is rejected or cancelled (`subscribe_orders`), one
// when an alert of theirs fires (`alert_triggered`) and one when a run of a screen of
// theirs has new entrants (`screen_entered`), the last two sent to every signed-in socket
// unasked, all through the page's one socket (socket.js).

import * as socket from "./socket.js";

const TOASTED = {
  partial_fill: "Part filled", traded: "Filled", rejected: "Rejected", cancelled: "Cancelled",
};
const TOAST_MS = 6000;
const ENTRANTS_NAMED = 5;  // a screen's toast names this many new entrants, then counts
const toasts = document.getElementById("toasts");

function show(className, text) {
  if (!toasts) return;
  const div = document.createElement("div");
  div.className = `toast ${className}`;
  div.textContent = text;
  toasts.append(div);
  setTimeout(() => div.remove(), TOAST_MS);
}

function orderToast(message) {
  const label = TOASTED[message.event];
  if (!label) return;
  const order = message.order;
  const qty = message.event === "partial_fill"
    ? `${message.filled_qty} of ${order.quantity}` : order.quantity;
  show(message.event, `${label}: ${order.side.toLowerCase()} ${qty} ${order.symbol}` +
    (message.reason ? ` (${message.reason})` : ""));
}

function alertToast(message) {
  const event = message.event;
  show("alert", `Alert: ${event.key} ${event.condition.replaceAll("_", " ")} ${event.value}` +
    ` (${event.previous_price} → ${event.price})${event.note ? `: ${event.note}` : ""}`);
}

// "Golden cross: 3 new — RELIANCE, TCS, INFY" (more than ENTRANTS_NAMED: "and 4 more").
function screenToast(message) {
  const entered = message.entered || [];
  if (!entered.length) return;
  const named = entered.slice(0, ENTRANTS_NAMED).map((entrant) => entrant.symbol || entrant.key);
  const more = entered.length - named.length;
  show("screen_entered", `${message.name || message.screen}: ${entered.length} new — ` +
    named.join(", ") + (more > 0 ? ` and ${more} more` : ""));
}

socket.on("order_update", orderToast);
socket.on("alert_triggered", alertToast);
socket.on("screen_entered", screenToast);
socket.request("subscribe_orders");
