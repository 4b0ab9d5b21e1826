// The sign-in form: POST /api/auth/login, then back to where the user came from.
import { api, currentUser } from "/static/api.js";

const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

/**
 * Where to go after signing in: a URL on this origin, or "/".
 * The URL parser decides, not string checks: it drops tabs and newlines and reads "\\"
 * as "/", so "/\t/evil.example" or "/\\evil.example" resolve to another origin.
 */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  if (!next.startsWith("/")) return "/";
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return "/";
  }
  // The whole URL, not its path: "/.//evil.example" has the path "//evil.example".
  return url.origin === location.origin ? url.href : "/";
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError("Enter your username and password.");
    return;
  }
  errorBox.hidden = true;
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    await api("POST", "/api/auth/login", { username, password });
    location.assign(nextPath());
  } catch (error) {
    if (error.status === 401) showError("Wrong username or password.");
    else if (error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${Math.ceil(error.retryAfter)} s.` : "";
      showError(`Too many sign-in attempts.${wait}`);
    } else showError(error.message);
    form.password.value = "";
    form.password.focus();
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});

// Already signed in (another tab, a fresh cookie): skip the form.
currentUser().then((user) => {
  if (user) location.replace(nextPath());
}, () => {});
