// Your own API keys, for every signed-in user: list, create (shown once), revoke.
import { api, currentUser, goToLogin, logout } from "/static/api.js";
import { h, notices, when } from "/static/dom.js";
import { copyShownKey, createKey, keyState, revokeKey } from "/static/key-view.js";
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
  const body = { name: form.elements.namedItem("name").value.trim() };
  if (form.expires.value) body.expires_in_days = Number(form.expires.value);
  if (await createKey(body, { flash, fail, signedOut: goToLogin })) {
    form.elements.namedItem("name").value = "";
  }
  await load();
}

async function revoke(key) {
  await revokeKey(key, { flash, fail });
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
