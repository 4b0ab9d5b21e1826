// The admin panel: checks the server grants admin data, then runs the tabs.
import { api, currentUser, goToLogin, logout } from "/static/api.js";
import { KeysPanel } from "/static/admin-keys.js";
import { LimitsPanel } from "/static/admin-limits.js";
import { ModelsPanel } from "/static/admin-models.js";
import { QueuePanel } from "/static/admin-queue.js";
import { RequestsPanel } from "/static/admin-requests.js";
import { UsagePanel } from "/static/admin-usage.js";
import { UsersPanel } from "/static/admin-users.js";
import { notices } from "/static/dom.js";

const $ = (id) => document.getElementById(id);
const names = new Map();
const { flash, fail } = notices($("flash"), $("admin-error"));

function denied(reason) {
  for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = true;
  document.querySelector(".tabs").hidden = true;
  $("denied-reason").textContent =
    `This page is for administrators. The server refused access: ${reason}`;
  $("denied").hidden = false;
}

function userName(id) {
  return names.get(id) ?? `#${id}`;
}

async function bands() {
  const status = queue.status ?? await api("GET", "/api/queue/status");
  return (status.bands ?? []).map((b) => b.name);
}

let queue;
let users;
let keys;
let requests;
let usage;
let limits;
let models;

function selectTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  for (const panel of document.querySelectorAll(".tab-panel")) {
    panel.hidden = panel.id !== `tab-${name}`;
  }
  // A notice belongs to the tab it was about; it must not greet the next one.
  $("admin-error").hidden = true;
  $("flash").hidden = true;
  if (name === "users") users.load();
  if (name === "keys") keys.load();
  if (name === "requests") requests.load();
  if (name === "usage") usage.load();
  if (name === "limits") limits.load();
  if (name === "models") models.load();
  history.replaceState(null, "", `#${name}`);
}

async function start() {
  let me;
  try {
    me = await currentUser();
  } catch (error) {
    fail(`Cannot reach the Seadragon gateway: ${error.message}`);
    return;
  }
  if (!me) return goToLogin();
  $("user-name").textContent = me.name;
  $("user-name").hidden = false;

  // The server decides who is an admin: ask for admin data and believe its answer.
  let userList;
  try {
    userList = await api("GET", "/api/users");
  } catch (error) {
    if (error.status === 401) return goToLogin();
    if (error.status === 403) return denied(error.message);
    fail(`Could not load the admin data: ${error.message}`);
    return;
  }

  const ctx = { me, flash, fail, denied, userName, bands, signedOut: goToLogin };
  queue = new QueuePanel(ctx);
  keys = new KeysPanel(ctx);
  requests = new RequestsPanel(ctx);
  usage = new UsagePanel(ctx);
  limits = new LimitsPanel(ctx);
  models = new ModelsPanel(ctx);
  users = new UsersPanel({
    ...ctx,
    usersChanged(list) {
      names.clear();
      for (const u of list) names.set(u.id, u.name);
      keys.setUsers(list);
      requests.setUsers(list);
      limits.setUsers(list);
    },
  });
  users.show(userList);
  document.querySelector(".tabs").hidden = false;
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  }
  const wanted = location.hash.slice(1);
  selectTab(["queue", "users", "keys", "requests", "usage", "limits", "models"].includes(wanted) ? wanted : "queue");
  queue.start();
}

$("logout").addEventListener("click", logout);
start();
