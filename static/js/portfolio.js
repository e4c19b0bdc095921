// /portfolio/ kept live (templates/portfolio/portfolio.html): `subscribe_portfolio` on the
// page's one socket (socket.js), each `portfolio_update` redrawn (money arrives as exact
// decimal strings).

import * as socket from "./socket.js";

const table = document.getElementById("portfolio-table");
const fmt = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(2));

function cell(text, num) {
  const td = document.createElement("td");
  if (num) td.className = "num";
  td.textContent = text;
  return td;
}

function render(message) {
  const portfolio = message.portfolio;
  const rows = portfolio.holdings.map((line) => {
    const tr = document.createElement("tr");
    tr.append(cell(line.symbol), cell(line.kind), cell(String(line.quantity), true),
      cell(fmt(line.avg_cost), true), cell(fmt(line.ltp), true), cell(fmt(line.value), true),
      cell(fmt(line.day_pnl), true), cell(fmt(line.pnl), true));
    return tr;
  });
  if (rows.length) table.tBodies[0].replaceChildren(...rows);
  table.querySelector(".js-total-value").textContent = fmt(portfolio.totals.value);
  table.querySelector(".js-total-day").textContent = fmt(portfolio.totals.day_pnl);
  table.querySelector(".js-total-pnl").textContent = fmt(portfolio.totals.pnl);
  table.dataset.updates = String(Number(table.dataset.updates || 0) + 1);
}

if (table) {
  socket.on("portfolio_update", render);
  socket.request("subscribe_portfolio");
}
