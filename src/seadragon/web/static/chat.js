// The web chat: sign-in check, model picker, and one streamed answer at a time.
import {
  api, authHeaders, currentUser, errorFrom, goToLogin, logout, newRequestId,
} from "/static/api.js";
import { AssistantMessage, addUserMessage } from "/static/chat-view.js";
import { h } from "/static/dom.js";
import { parseQueueComment, readEventStream } from "/static/sse.js";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const scroller = $("scroller");
const prompt = $("prompt");
const modelSelect = $("model");
const emptyState = $("empty");
const MODEL_KEY = "seadragon.model";

/** What was said so far, as sent to the model; failed answers are left out. */
let history = [];
/** The answer in flight: {controller, requestId, view}, or null. */
let current = null;

function showPageError(message) {
  $("page-error").textContent = message;
  $("page-error").hidden = !message;
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  if (!busy) prompt.focus();
}

function scrollToEnd(force = false) {
  const nearEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  if (force || nearEnd) scroller.scrollTop = scroller.scrollHeight;
}

async function loadModels() {
  let models;
  try {
    models = (await api("GET", "/v1/models")).data.map((m) => m.id);
  } catch (error) {
    if (error.status === 401) return goToLogin();
    modelSelect.replaceChildren(h("option", {}, "Models unavailable"));
    showPageError(`Could not load the model list: ${error.message}`);
    return;
  }
  if (models.length === 0) {
    modelSelect.replaceChildren(h("option", {}, "No models available"));
    showPageError("No backend serves a model right now. Ask an administrator to check the backends.");
    return;
  }
  const saved = localStorage.getItem(MODEL_KEY);
  modelSelect.replaceChildren(...models.map((id) => h("option", { value: id }, id)));
  modelSelect.value = models.includes(saved) ? saved : models[0];
  modelSelect.disabled = false;
  showPageError("");
}

function handleData(data, view, outcome) {
  if (data === "[DONE]") {
    outcome.done = true;
    return;
  }
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    return; // a malformed line must not end a good answer
  }
  if (chunk.error) {
    outcome.error = chunk.error.message || "The request failed.";
    return;
  }
  for (const choice of chunk.choices ?? []) view.append(choice.delta?.content ?? "");
  if (chunk.usage) outcome.usage = chunk.usage;
  scrollToEnd();
}

async function streamAnswer(view, messages, controller, requestId) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    credentials: "same-origin",
    signal: controller.signal,
    headers: authHeaders("POST", {
      Accept: "text/event-stream",
      "Content-Type": "application/json",
      "X-Request-Id": requestId,
    }),
    body: JSON.stringify({
      model: view.model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) throw await errorFrom(response);
  const outcome = { done: false, error: null, usage: null };
  await readEventStream(response, {
    onComment: (comment) => {
      const place = parseQueueComment(comment);
      if (place) view.waiting(place);
    },
    onData: (data) => handleData(data, view, outcome),
  });
  return outcome;
}

function describe(error) {
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in about ${Math.ceil(error.retryAfter)} s.` : "";
    return `The queue is full: ${error.message}.${wait}`;
  }
  if (error.status) return `Error ${error.status}: ${error.message}`;
  return "Lost the connection to the gateway before the answer was complete.";
}

async function send(text) {
  const model = modelSelect.value;
  if (!model || modelSelect.disabled) {
    showPageError("Pick a model first.");
    return;
  }
  emptyState.remove();
  addUserMessage(conversation, text);
  // A "New chat" during this answer replaces `history`; the answer belongs to the old one.
  const said = history;
  said.push({ role: "user", content: text });
  const view = new AssistantMessage(conversation, model);
  const turn = { controller: new AbortController(), requestId: newRequestId(), view };
  current = turn;
  setBusy(true);
  scrollToEnd(true);
  try {
    const outcome = await streamAnswer(view, [...said], turn.controller, turn.requestId);
    if (outcome.error) view.fail(outcome.error);
    else if (!outcome.done) view.fail("The answer was cut off: the connection closed early.");
    else view.done(outcome.usage);
  } catch (error) {
    if (error.name === "AbortError") view.stopped();
    else if (error.status === 401) {
      view.fail("Your session has ended.", h("a", { href: "/login?next=/" }, "Sign in again"));
    } else view.fail(describe(error));
  } finally {
    if (view.text) said.push({ role: "assistant", content: view.text });
    if (current === turn) {
      current = null;
      setBusy(false);
    }
    scrollToEnd();
  }
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

function newChat() {
  stop();
  history = [];
  conversation.replaceChildren(emptyState);
  showPageError("");
  prompt.value = "";
  autosize();
  prompt.focus();
}

function autosize() {
  prompt.style.height = "auto";
  prompt.style.height = `${prompt.scrollHeight}px`;
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || current) return;
  prompt.value = "";
  autosize();
  send(text);
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
$("logout").addEventListener("click", logout);
modelSelect.addEventListener("change", () => localStorage.setItem(MODEL_KEY, modelSelect.value));

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
  await loadModels();
  prompt.focus();
}

start();
