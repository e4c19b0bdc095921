// A signed-in user's order updates and alert firings on every page: its own socket to
// /ws/dashboard/ (`subscribe_orders`; alert firings come unasked), a toast when an order
// fills, part-fills, is rejected or cancelled and when an alert fires, and on /orders/ the
// table kept live. Reconnects with jittered backoff.

const TOASTED = {partial_fill: "Part filled", traded: "Filled", rejected: "Rejected", cancelled: "Cancelled"};
const TOAST_MS = 6000;
const table = document.querySelector("#orders-table tbody");
const toasts = document.getElementById("toasts");
let attempts = 0;

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text ?? "";
  return td;
}

function renderOrder(order) {
  if (!table) return;
  table.querySelector("tr.empty")?.remove();
  const tr = document.createElement("tr");
  tr.dataset.orderNo = order.order_no;
  tr.append(
    cell(order.updated_at ? order.updated_at.slice(11, 19) : ""), cell(order.order_no), cell(order.client_id), cell(order.symbol),
    cell(order.side), cell(order.order_type), cell(String(order.quantity), "num"),
    cell(String(order.traded_qty), "num"), cell(order.price ?? "", "num"),
    cell(order.avg_traded_price ?? "", "num"), cell(order.status, "status"), cell(order.reason),
  );
  const existing = table.querySelector(`tr[data-order-no="${CSS.escape(order.order_no)}"]`);
  if (existing) existing.replaceWith(tr); else table.prepend(tr);
}

function toast(message) {
  const label = TOASTED[message.event];
  if (!label || !toasts) return;
  const order = message.order;
  const div = document.createElement("div");
  div.className = `toast ${message.event}`;
  const qty = message.event === "partial_fill" ? `${message.filled_qty} of ${order.quantity}` : order.quantity;
  div.textContent = `${label}: ${order.side.toLowerCase()} ${qty} ${order.symbol}` +
    (message.reason ? ` (${message.reason})` : "");
  toasts.append(div);
  setTimeout(() => div.remove(), TOAST_MS);
}

function alertToast(event) {
  if (!toasts) return;
  const div = document.createElement("div");
  div.className = "toast alert";
  div.textContent = `Alert: ${event.key} ${event.condition.replace("_", " ")} ${event.value}` +
    ` (${event.previous_price} → ${event.price})${event.note ? `: ${event.note}` : ""}`;
  toasts.append(div);
  setTimeout(() => div.remove(), TOAST_MS);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/dashboard/`);
  ws.addEventListener("open", () => {
    attempts = 0;
    ws.send(JSON.stringify({action: "subscribe_orders"}));
  });
  ws.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "orders_snapshot") message.orders.slice().reverse().forEach(renderOrder);
    if (message.type === "order_update") {
      renderOrder(message.order);
      toast(message);
    }
    if (message.type === "alert_triggered") alertToast(message.event);
  });
  ws.addEventListener("close", () => {
    const ceiling = Math.min(30000, 1000 * 2 ** Math.min(attempts, 10));
    attempts += 1;
    setTimeout(connect, Math.random() * ceiling);
  });
}

window.orderUpdates = {toasted: () => toasts?.children.length ?? 0};
connect();
