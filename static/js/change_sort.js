// The screener's Change header (templates/screeners/screener.html): a click sorts the rows
// by today's change %, as live_prices.js last wrote it in each row's `data-change-pct`
// (a second click reverses); rows without a change go last.

const button = document.getElementById("sort-change");
let descending = true;

function pct(row) {
  const value = row.querySelector(".js-change-cell")?.dataset.changePct;
  return value === undefined ? null : Number(value);
}

button?.addEventListener("click", () => {
  const body = document.querySelector("#screener-table tbody");
  if (!body) return;
  const rows = [...body.rows].sort((a, b) => {
    const x = pct(a);
    const y = pct(b);
    if (x === null || y === null) return (x === null) - (y === null);
    return descending ? y - x : x - y;
  });
  body.append(...rows);
  button.dataset.direction = descending ? "desc" : "asc";
  descending = !descending;
});
