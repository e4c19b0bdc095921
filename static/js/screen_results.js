// A screen's results page follows its latest run (templates/screeners/screener.html): every
// few seconds it asks for the latest run's id, and when a newer run has landed it reloads,
// keeping the sort and page, so the table shows the new rows and the page's socket
// subscribes their prices (the screen's upstream stream follows on the server).

const root = document.getElementById("screen-definition");

async function check() {
  try {
    const answer = await fetch(root.dataset.latestUrl, {headers: {Accept: "application/json"}});
    if (!answer.ok) return;
    const {run_id: latest} = await answer.json();
    if (latest !== null && String(latest) !== root.dataset.runId) window.location.reload();
  } catch {
    // offline for a moment: the next check tries again
  }
}

if (root?.dataset.latestUrl) setInterval(check, Number(root.dataset.pollMs) || 30000);
