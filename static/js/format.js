// Number formats shared by the pages' scripts (live_prices.js, depth_panel.js): a change
// from the previous close rounded as the server rounds it (screeners/pages.py: the change
// to 2 places, the percentage from that to 2 places), so a figure too small to show is 0,
// shown unsigned and uncoloured, never "-0.00".

const PLACES = 2;

// Rounded to `places`, with -0 made 0 (toFixed keeps the sign of -0.001 but not of -0).
export function rounded(value, places = PLACES) {
  const scale = 10 ** places;
  const result = Math.round(value * scale) / scale;
  return result === 0 ? 0 : result;
}

export function fixed(value, places = PLACES) {
  return rounded(value, places).toFixed(places);
}

// The day's change of `price` from `prevClose`, {change, pct}, each rounded as shown. Null
// without a previous close.
export function dayChange(price, prevClose) {
  if (!prevClose || !Number.isFinite(price)) return null;
  const change = rounded(price - prevClose);
  return {change, pct: rounded((change / prevClose) * 100)};
}

// "up", "down", or "" for a shown figure that is 0 (0.00: no colour, no sign).
export function directionOf(shown) {
  return shown > 0 ? "up" : shown < 0 ? "down" : "";
}

// The CSS class of a direction on a cell: the resting colour, set from the day's change only
// (a tick's own direction only flashes: live_prices.js).
export function setDirection(element, direction) {
  element.classList.toggle("up", direction === "up");
  element.classList.toggle("down", direction === "down");
}

// Indian digit grouping, as volumes and quantities are read there.
export function quantity(value) {
  return value.toLocaleString("en-IN");
}
