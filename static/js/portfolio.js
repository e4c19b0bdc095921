// /portfolio/ kept live: `subscribe_portfolio` on /ws/dashboard/, each `portfolio_update`
// redrawn (money arrives as exact decimal strings).
const body = document.querySelector("#portfolio-table tbody");
const fmt = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(2));

function cell(text, num) {
  const td = document.createElement("td");
  if (num) td.className = "num";
  td.textContent = text;
  return td;
}

function render(portfolio) {
  const rows = portfolio.holdings.map((line) => {
    const tr = document.createElement("tr");
    tr.append(cell(line.symbol), cell(line.kind), cell(String(line.quantity), true),
      cell(fmt(line.avg_cost), true), cell(fmt(line.ltp), true), cell(fmt(line.value), true),
      cell(fmt(line.day_pnl), true), cell(fmt(line.pnl), true));
    return tr;
  });
  if (rows.length) body.replaceChildren(...rows);
  document.querySelector(".js-total-value").textContent = fmt(portfolio.totals.value);
  document.querySelector(".js-total-day").textContent = fmt(portfolio.totals.day_pnl);
  document.querySelector(".js-total-pnl").textContent = fmt(portfolio.totals.pnl);
  document.getElementById("portfolio-table").dataset.updates =
    String(Number(document.getElementById("portfolio-table").dataset.updates || 0) + 1);
}

function connect(attempts = 0) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/dashboard/`);
  ws.addEventListener("open", () => ws.send(JSON.stringify({action: "subscribe_portfolio"})));
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "portfolio_update") render(message.portfolio);
  });
  ws.addEventListener("close", () => {
    setTimeout(() => connect(attempts + 1), Math.random() * Math.min(30000, 1000 * 2 ** attempts));
  });
}

connect();
