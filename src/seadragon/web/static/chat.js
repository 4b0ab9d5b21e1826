// The web chat: conversations kept on the server, one streamed answer at a time,
// regenerate and edit-and-resend, per-conversation settings.
import { api, currentUser, goToLogin, logout, newRequestId } from "/static/api.js";
import { ModelPicker } from "/static/chat-models.js";
import { Attachments } from "/static/chat-attach.js";
import { Sidebar } from "/static/chat-sidebar.js";
import { SettingsPanel } from "/static/chat-settings.js";
import { describe, messagesFor, streamAnswer } from "/static/chat-stream.js";
import { AssistantMessage, UserMessage } from "/static/chat-view.js";
import { h } from "/static/dom.js";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const scroller = $("scroller");
const prompt = $("prompt");
const models = new ModelPicker($("model"));
const emptyState = $("empty");
const NO_SETTINGS = { system_prompt: null, temperature: null, max_tokens: null };

/** The open conversation: its server id (null until the first message) and settings. */
let chat = { id: null, settings: { ...NO_SETTINGS } };
/** What was said, as stored: {id, role, content, images, view}. Failed answers are left out. */
let turns = [];
/** The newest answer's view, saved or not (a failed one can be regenerated too). */
let lastAnswer = null;
/** The answer in flight: {controller, requestId, view}, or null. */
let current = null;

function showPageError(message) {
  $("page-error").textContent = message;
  $("page-error").hidden = !message;
}

const sidebar = new Sidebar({
  open: (id) => openConversation(id),
  deleted: (id) => { if (chat.id === id) newChat(); },
  fail: showPageError,
});
const attachments = new Attachments($("attach-input"), $("attachments"), showPageError);
const settingsPanel = new SettingsPanel((settings) => {
  chat.settings = settings;
  if (chat.id !== null) save({ ...settings });
});

function save(fields) {
  return api("PATCH", `/api/conversations/${chat.id}`, fields)
    .catch((error) => showPageError(`Could not save the settings: ${error.message}`));
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  // Only the newest answer can be regenerated; no message is edited while one streams.
  for (const turn of turns) {
    if (turn.role === "user") turn.view.setEditable(!busy);
    else turn.view.setRegenerable(false);
  }
  if (lastAnswer) lastAnswer.setRegenerable(!busy);
  if (!busy) prompt.focus();
}

function scrollToEnd(force = false) {
  const nearEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  if (force || nearEnd) scroller.scrollTop = scroller.scrollHeight;
}

function addUserTurn(stored) {
  const turn = { id: stored.id, role: "user", content: stored.content, images: stored.images ?? [] };
  turn.view = new UserMessage(conversation, turn.content, turn.images, {
    onEdit: (text) => editAndResend(turn, text),
  });
  turns.push(turn);
  return turn;
}

async function answer() {
  const model = models.value;
  const chatId = chat.id;
  const view = new AssistantMessage(conversation, model, { onRegenerate: regenerate });
  lastAnswer = view;
  const turn = { controller: new AbortController(), requestId: newRequestId(), view };
  current = turn;
  setBusy(true);
  scrollToEnd(true);
  const request = { model, messages: messagesFor(chat.settings, turns), ...SettingsPanel.requestFields(chat.settings) };
  let status = "ok";
  try {
    const outcome = await streamAnswer(view, request, { ...turn, onChunk: () => scrollToEnd() });
    if (outcome.error) view.fail(outcome.error);
    else if (!outcome.done) view.fail("The answer was cut off: the connection closed early.");
    else view.done(outcome.usage);
    if (outcome.error || !outcome.done) status = "failed";
  } catch (error) {
    status = error.name === "AbortError" ? "stopped" : "failed";
    if (error.name === "AbortError") view.stopped();
    else if (error.status === 401) {
      view.fail("Your session has ended.", h("a", { href: "/login?next=/" }, "Sign in again"));
    } else view.fail(describe(error));
  }
  if (view.text) await keepAnswer(chatId, view, model, status, turn.requestId);
  if (current === turn) {
    current = null;
    setBusy(false);
  }
  scrollToEnd();
}

async function keepAnswer(chatId, view, model, status, requestId) {
  try {
    const stored = await api("POST", `/api/conversations/${chatId}/messages`, {
      role: "assistant", content: view.text, model, status, request_id: requestId,
      band: view.band, entry_band: view.entryBand, duration_s: view.seconds,
      prompt_tokens: view.promptTokens ?? null, completion_tokens: view.tokens ?? null,
    });
    if (chat.id === chatId) turns.push({ id: stored.id, role: "assistant", content: view.text, view });
  } catch (error) {
    showPageError(`The answer could not be saved: ${error.message}`);
  }
}

async function send(text, images = []) {
  if (!models.value) {
    showPageError("Pick a model first.");
    return false;
  }
  emptyState.remove();
  try {
    if (chat.id === null) {
      const created = await api("POST", "/api/conversations", { model: models.value, ...chat.settings });
      chat.id = created.id;
      sidebar.select(chat.id);
      showInAddressBar(chat.id);
    }
    addUserTurn(await api("POST", `/api/conversations/${chat.id}/messages`, { role: "user", content: text, images }));
  } catch (error) {
    if (error.status === 401) return goToLogin();
    showPageError(`Could not send: ${error.message}`);
    return false;
  }
  showPageError("");
  sidebar.load();
  await answer();
  return true;
}

/** Forget the stored turns from `index` on (server and page) and the unsaved last answer. */
async function truncate(index) {
  const from = turns[index];
  if (from) await api("DELETE", `/api/conversations/${chat.id}/messages/${from.id}`);
  for (const turn of turns.slice(index)) turn.view.remove();
  turns = turns.slice(0, index);
  lastAnswer?.remove();
  lastAnswer = null;
}

async function regenerate() {
  if (current) return;
  const last = turns.at(-1);
  try {
    await truncate(last?.role === "assistant" ? turns.length - 1 : turns.length);
  } catch (error) {
    showPageError(`Could not regenerate: ${error.message}`);
    return;
  }
  await answer();
}

async function editAndResend(turn, text) {
  if (current) return;
  try {
    await truncate(turns.indexOf(turn));
  } catch (error) {
    showPageError(`Could not edit: ${error.message}`);
    return;
  }
  await send(text, turn.images);
}

/** Stop the answer in flight: close the stream and take it off the queue or backend. */
function stop() {
  if (!current) return;
  const { controller, requestId } = current;
  // The gateway also cancels on disconnect; the explicit call makes it immediate
  // even behind a proxy that keeps the upstream connection open.
  api("DELETE", `/api/queue/requests/${encodeURIComponent(requestId)}`).catch(() => {});
  controller.abort();
}

function showInAddressBar(id) {
  window.history.replaceState(null, "", id === null ? "/" : `/#chat=${id}`);
}

function reset(id, settings) {
  stop();
  current = null;
  setBusy(false);
  chat = { id, settings };
  turns = [];
  lastAnswer = null;
  conversation.replaceChildren();
  settingsPanel.show(settings);
  sidebar.select(id);
  showInAddressBar(id);
  showPageError("");
}

function newChat() {
  reset(null, { ...NO_SETTINGS });
  conversation.append(emptyState);
  models.pick();
  prompt.value = "";
  autosize();
  prompt.focus();
}

async function openConversation(id) {
  let stored;
  try {
    stored = await api("GET", `/api/conversations/${id}`);
  } catch (error) {
    if (error.status === 404) return newChat();
    showPageError(`Could not open the conversation: ${error.message}`);
    return;
  }
  const { system_prompt, temperature, max_tokens } = stored;
  reset(stored.id, { system_prompt, temperature, max_tokens });
  models.pick(stored.model);
  for (const message of stored.messages) {
    if (message.role === "user") addUserTurn(message);
    else {
      const view = AssistantMessage.restore(conversation, message, { onRegenerate: regenerate });
      turns.push({ id: message.id, role: "assistant", content: message.content, view });
      lastAnswer = view;
    }
  }
  // An unanswered last message is resent with Edit; "Regenerate" would answer it silently.
  if (turns.at(-1)?.role === "user") lastAnswer = null;
  if (turns.length === 0) conversation.append(emptyState);
  setBusy(false);
  scrollToEnd(true);
}

function autosize() {
  prompt.style.height = "auto";
  prompt.style.height = `${prompt.scrollHeight}px`;
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || current) return;
  prompt.value = "";
  autosize();
  const images = attachments.take();
  if (!(await send(text, images))) {
    prompt.value = text;
    attachments.restore(images);
  }
});
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
prompt.addEventListener("input", autosize);
$("stop").addEventListener("click", stop);
$("new-chat").addEventListener("click", newChat);
$("chats-toggle").addEventListener("click", () => document.body.classList.toggle("show-sidebar"));
$("logout").addEventListener("click", logout);
$("model").addEventListener("change", () => {
  if (chat.id !== null) save({ model: models.value });
});

async function start() {
  let user;
  try {
    user = await currentUser();
  } catch (error) {
    showPageError(`Cannot reach the Seadragon gateway: ${error.message}`);
    return;
  }
  if (!user) return goToLogin();
  $("user-name").textContent = user.name;
  $("user-name").hidden = false;
  $("admin-link").hidden = !user.is_admin;
  try {
    const [problem] = await Promise.all([models.load(), sidebar.load()]);
    // Only ever add a word here: the user may already have been told something meanwhile.
    if (problem) showPageError(problem);
  } catch (error) {
    if (error.status === 401) return goToLogin();
    throw error;
  }
  const wanted = /^#chat=(\d+)$/.exec(location.hash);
  if (wanted) await openConversation(Number(wanted[1]));
  prompt.focus();
}

start();
