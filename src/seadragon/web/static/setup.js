// The first-start page: the one-time token from the printed link creates the first
// administrator, who is then signed in and taken to the admin panel.
import { api } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const form = $("setup-form");
const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
// The token stays out of the address bar (and history) once read.
history.replaceState(null, "", "/setup");

function showError(message) {
  $("setup-error").textContent = message;
  $("setup-error").hidden = false;
}

function unavailable(message) {
  form.hidden = true;
  $("setup-lead").textContent = message;
  $("setup-done").hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = form.elements.namedItem("name").value.trim();
  const password = form.password.value;
  if (password !== form.password2.value) {
    showError("The two passwords differ.");
    return;
  }
  $("setup-submit").disabled = true;
  try {
    await api("POST", "/api/setup", { token, name, password });
  } catch (error) {
    $("setup-submit").disabled = false;
    if (error.status === 403) unavailable(error.message);
    else showError(error.message);
    return;
  }
  await api("POST", "/api/auth/login", { username: name, password });
  location.assign("/admin");
});

async function start() {
  let state;
  try {
    state = await api("GET", "/api/setup");
  } catch (error) {
    unavailable(`Cannot reach the Seadragon gateway: ${error.message}`);
    return;
  }
  if (!state.needed) unavailable("Seadragon is already set up. Sign in with your account.");
  else if (!token) unavailable("Open the setup link printed when Seadragon started: it holds a one-time token.");
  else form.hidden = false;
}

start();
