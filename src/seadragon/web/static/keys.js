// Your own API keys, for every signed-in user: list, create (shown once), revoke.
import { api, currentUser, goToLogin, logout } from "/static/api.js";
import { confirmAction, h, notices, when } from "/static/dom.js";
import { copyShownKey, keyState } from "/static/key-view.js";
import { badge, listOf, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);
const { flash, fail } = notices($("flash"), $("keys-error"));

async function load() {
  let keys;
  try {
    keys = listOf(await api("GET", "/api/keys"), "keys");
  } catch (error) {
    if (error.status === 401) return goToLogin();
    fail(`Could not load your keys: ${error.message}`);
    return;
  }
  syncRows($("keys"), keys, (k) => k.id, (k) => [
    k.name,
    { content: k.display ?? `${k.prefix}…${k.last4}`, cls: "rid" },
    badge(k.band ?? "–"),
    when(k.created_at),
    when(k.expires_at),
    when(k.last_used_at),
    keyState(k),
    {
      sig: `revoke:${Boolean(k.revoked_at)}`,
      content: () => (k.revoked_at ? "" : h("button", {
        class: "btn danger small", type: "button", onclick: () => revoke(k),
      }, "Revoke")),
    },
  ]);
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  const name = form.elements.namedItem("name").value.trim();
  const body = { name };
  if (form.expires.value) body.expires_in_days = Number(form.expires.value);
  try {
    const created = await api("POST", "/api/keys", body);
    $("new-key-value").textContent = created.key;
    $("copy-key").textContent = "Copy";
    $("new-key").hidden = false;
    form.elements.namedItem("name").value = "";
    flash(`Created key ${name}. Copy it now: it will not be shown again.`);
  } catch (error) {
    if (error.status === 401) return goToLogin();
    fail(`Could not create key ${name}: ${error.message}`);
  }
  await load();
}

async function revoke(key) {
  const ok = await confirmAction(
    `Revoke key ${key.name}? Programs using it get 401 from now on.`, "Revoke");
  if (!ok) return;
  try {
    await api("DELETE", `/api/keys/${key.id}`);
    flash(`Revoked key ${key.name}.`);
  } catch (error) {
    fail(`Could not revoke ${key.name}: ${error.message}`);
  }
  await load();
}

async function start() {
  let me;
  try {
    me = await currentUser();
  } catch (error) {
    fail(error.message);
    return;
  }
  if (!me) return goToLogin();
  $("user-name").textContent = me.name;
  $("user-name").hidden = false;
  $("admin-link").hidden = !me.is_admin;
  $("base-url").textContent = `${location.origin}/v1`;
  $("key-form").addEventListener("submit", create);
  $("copy-key").addEventListener("click", () => copyShownKey($("new-key-value"), $("copy-key")));
  $("logout").addEventListener("click", logout);
  await load();
}

start();
