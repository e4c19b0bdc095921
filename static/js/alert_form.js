// The alert form's instrument (templates/alerts/alerts.html): typing searches instruments
// (instrument_search.js); picking one shows its symbol and sends its key as `picked_key`.
// Typing again forgets the pick: the server then resolves the text, a key or a trading
// symbol (alerts/forms.py), and refuses one it does not know.

import {attachSearch} from "./instrument_search.js";

const input = document.getElementById("alert-key");
const picked = document.getElementById("alert-picked-key");

if (input && picked) {
  attachSearch(input, {
    onPick: (instrument) => {
      input.value = instrument.symbol;
      picked.value = instrument.key;
    },
  });
  input.addEventListener("input", () => { picked.value = ""; });
}
