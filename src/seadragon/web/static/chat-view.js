// How chat messages look on the page. User text goes in via textContent (see dom.js);
// answers are Markdown, sanitized in chat-markdown.js.
import { MarkdownStream, renderMarkdown } from "/static/chat-markdown.js";
import { duration, h } from "/static/dom.js";

async function copyToClipboard(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

/** A user's message bubble; onEdit(newText) resends it edited. */
export class UserMessage {
  constructor(container, text, images = [], { onEdit } = {}) {
    this.text = text;
    this.images = images;
    this.body = h("div", { class: "body" });
    this.body.textContent = text;
    const pictures = images.length
      ? h("div", { class: "attachments" }, images.map((src) => h("img", { src, alt: "attached image" })))
      : null;
    this.editButton = h("button", { class: "btn small ghost", type: "button", title: "Edit and resend" }, "Edit");
    this.editButton.addEventListener("click", () => this.edit(onEdit));
    this.actions = h("div", { class: "actions" }, this.editButton);
    this.el = h("article", { class: "msg user" }, h("div", { class: "who" }, "You"), pictures, this.body, this.actions);
    container.append(this.el);
  }

  setEditable(editable) {
    this.editButton.hidden = !editable;
  }

  edit(onEdit) {
    const box = h("textarea", { class: "edit-box", "aria-label": "Edit message", rows: 3 });
    box.value = this.text;
    const send = h("button", { class: "btn primary small", type: "button" }, "Save and send");
    const cancel = h("button", { class: "btn small", type: "button" }, "Cancel edit");
    const editor = h("div", { class: "editor" }, box, h("div", { class: "actions" }, cancel, send));
    this.body.replaceWith(editor);
    this.actions.hidden = true;
    box.focus();
    const close = () => {
      editor.replaceWith(this.body);
      this.actions.hidden = false;
    };
    cancel.addEventListener("click", close);
    send.addEventListener("click", () => {
      const text = box.value.trim();
      if (!text) return;
      close();
      onEdit?.(text);
    });
  }

  remove() {
    this.el.remove();
  }
}

/** One assistant answer, from "waiting in queue" through streamed tokens to its end. */
export class AssistantMessage {
  constructor(container, model, { onRegenerate } = {}) {
    this.model = model;
    this.text = "";
    this.band = null;
    this.entryBand = null;
    this.startedAt = performance.now();
    this.seconds = null;
    this.body = h("div", { class: "body markdown" });
    this.markdown = new MarkdownStream(this.body);
    this.status = h("div", { class: "queue-status", role: "status" },
      h("span", { class: "spinner" }), h("span", { "data-text": true }, "Sending…"));
    this.meta = h("div", { class: "meta" });
    this.copyButton = h("button", { class: "btn small ghost", type: "button" }, "Copy");
    this.copyButton.addEventListener("click", () => copyToClipboard(this.text, this.copyButton));
    this.regenerateButton = h("button", { class: "btn small ghost", type: "button" }, "Regenerate");
    this.regenerateButton.addEventListener("click", () => onRegenerate?.());
    this.actions = h("div", { class: "actions" }, this.copyButton, this.regenerateButton);
    this.actions.hidden = true;
    this.el = h("article", { class: "msg assistant pending", "data-model": model },
      h("div", { class: "who" }, model), this.status, this.body, this.meta, this.actions);
    container.append(this.el);
  }

  /** A stored answer, shown as it ended. */
  static restore(container, stored, handlers) {
    const view = new AssistantMessage(container, stored.model ?? "assistant", handlers);
    view.text = stored.content;
    view.band = stored.band;
    view.entryBand = stored.entry_band;
    view.seconds = stored.duration_s;
    view.status.remove();
    view.el.classList.remove("pending");
    if (view.text) renderMarkdown(view.body, view.text);
    else view.body.remove();
    if (stored.status === "stopped") view.el.classList.add("stopped");
    if (stored.status === "failed") view.el.classList.add("failed");
    const note = stored.status === "stopped" ? "Stopped" : stored.status === "failed" ? "Failed" : "";
    view.#showMeta(stored.completion_tokens, note);
    return view;
  }

  setRegenerable(yes) {
    this.regenerateButton.hidden = !yes;
  }

  /**
   * Show the place in line; ahead=0 means next for a free slot. The ETA counts down
   * every second until the gateway sends the next position (it stops at "soon").
   */
  waiting({ ahead, etaS, paused = false }) {
    clearInterval(this.countdown);
    const label = this.status.querySelector("[data-text]");
    const shownAt = performance.now();
    const show = () => {
      const left = etaS === null ? null : etaS - (performance.now() - shownAt) / 1000;
      const eta = left === null ? "" : left >= 0.5 ? `, ~${duration(left)}` : ", starting soon";
      const place = ahead > 0 ? `${ahead} ahead${eta}` : `next in line${etaS ? eta : ""}`;
      label.textContent = paused
        ? `Paused by an administrator: ${ahead > 0 ? `${ahead} ahead` : "next in line"}`
        : `Waiting in queue: ${place}`;
    };
    show();
    if (!paused && etaS) this.countdown = setInterval(show, 1000);
  }

  /** The request was taken from `band` (it entered the queue in `entryBand`). */
  started(band, entryBand) {
    this.band = band;
    this.entryBand = entryBand ?? this.entryBand;
  }

  append(piece) {
    if (!piece) return;
    clearInterval(this.countdown);
    if (!this.text) {
      this.status.remove();
      this.el.classList.remove("pending");
      this.el.classList.add("streaming");
    }
    this.text += piece;
    this.markdown.update(this.text);
  }

  #showMeta(tokens, note) {
    const parts = [];
    if (note) parts.push(h("span", {}, note));
    if (Number.isFinite(tokens)) parts.push(h("span", {}, `${tokens} tokens`));
    if (Number.isFinite(this.seconds)) parts.push(h("span", {}, duration(this.seconds)));
    if (this.band) {
      const aged = this.entryBand && this.entryBand !== this.band;
      parts.push(h("span", { class: "band", title: "Priority band the request ran in" },
        `band ${this.band}`));
      if (aged) {
        parts.push(h("span", { class: "badge accent aged",
          title: `Entered the queue in ${this.entryBand} and aged up while it waited` },
        `aged up from ${this.entryBand}`));
      }
    }
    this.meta.replaceChildren(...parts);
    this.actions.hidden = false;
  }

  #end(note, tokens = null) {
    clearInterval(this.countdown);
    this.status.remove();
    this.markdown.flush();
    this.el.classList.remove("pending", "streaming");
    this.seconds = (performance.now() - this.startedAt) / 1000;
    this.#showMeta(tokens, note);
  }

  done(usage) {
    this.tokens = usage?.completion_tokens ?? null;
    this.promptTokens = usage?.prompt_tokens ?? null;
    this.#end("", this.tokens);
    if (!this.text) this.body.textContent = "(empty answer)";
  }

  stopped() {
    this.#end("Stopped");
    this.el.classList.add("stopped");
    if (!this.text) this.body.remove();
  }

  fail(message, action = null) {
    this.#end("");
    if (!this.text) this.body.remove();
    this.el.classList.add("failed");
    this.meta.before(h("div", { class: "error", role: "alert" }, message, action ? " " : null, action));
  }

  remove() {
    this.el.remove();
  }
}
