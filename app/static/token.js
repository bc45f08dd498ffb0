// The "API token" box: what the user enters is sent with every request (api.js).
import { apiToken, setApiToken } from "./api.js";

const $ = (id) => document.getElementById(id);

function showState() {
  $("token-state").textContent = apiToken()
    ? "A token is set: predictions send it."
    : "No token: predictions are sent without one.";
}

export function initToken() {
  const box = $("token-box");
  const input = $("api-token");
  input.value = apiToken();
  if (input.value) box.open = true;
  showState();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiToken(input.value.trim());
    showState();
  });
  $("token-forget").addEventListener("click", () => {
    input.value = "";
    setApiToken("");
    showState();
  });
  // A 401 or 403 anywhere on the page opens the box, so the user sees where the token goes.
  document.addEventListener("api-token-needed", () => {
    box.open = true;
    input.focus();
  });
}
