// /orders/ kept live (templates/orders/orders.html): today's orders from `orders_snapshot`
// (after every connect) and each `order_update`, on the page's one socket (socket.js);
// toasts.js shows the toasts.

import * as socket from "./socket.js";

const table = document.querySelector("#orders-table tbody");

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
    cell(order.updated_at ? order.updated_at.slice(11, 19) : ""), cell(order.order_no),
    cell(order.client_id), cell(order.symbol), cell(order.side), cell(order.order_type),
    cell(String(order.quantity), "num"),
    cell(String(order.traded_qty), "num"), cell(order.price ?? "", "num"),
    cell(order.avg_traded_price ?? "", "num"), cell(order.status, "status"), cell(order.reason),
  );
  const existing = table.querySelector(`tr[data-order-no="${CSS.escape(order.order_no)}"]`);
  if (existing) existing.replaceWith(tr); else table.prepend(tr);
}

socket.on("orders_snapshot", (message) => message.orders.slice().reverse().forEach(renderOrder));
socket.on("order_update", (message) => renderOrder(message.order));
socket.request("subscribe_orders");
