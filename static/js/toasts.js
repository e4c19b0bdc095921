// A signed-in user's toasts on every page (templates/base.html loads it for them): one when
// an order of theirs fills, part-fills, is rejected or cancelled (`subscribe_orders`) and
// one when an alert of theirs fires (`alert_triggered`, sent to every signed-in socket
// unasked), all through the page's one socket (socket.js).

import * as socket from "./socket.js";

const TOASTED = {
  partial_fill: "Part filled", traded: "Filled", rejected: "Rejected", cancelled: "Cancelled",
};
const TOAST_MS = 6000;
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

socket.on("order_update", orderToast);
socket.on("alert_triggered", alertToast);
socket.request("subscribe_orders");
