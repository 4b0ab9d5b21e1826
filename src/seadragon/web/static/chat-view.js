// How chat messages look on the page. Text always goes in via textContent (see dom.js).
import { duration, h } from "/static/dom.js";

/** Append the user's message bubble. */
export function addUserMessage(container, text) {
  const body = h("div", { class: "body" });
  body.textContent = text;
  container.append(h("article", { class: "msg user" }, h("div", { class: "who" }, "You"), body));
}

/** One assistant answer, from "waiting in queue" through streamed tokens to its end. */
export class AssistantMessage {
  constructor(container, model) {
    this.model = model;
    this.text = "";
    this.startedAt = performance.now();
    this.body = h("div", { class: "body" });
    this.status = h("div", { class: "queue-status", role: "status" },
      h("span", { class: "spinner" }), h("span", { "data-text": true }, "Sending…"));
    this.meta = h("div", { class: "meta" });
    this.el = h("article", { class: "msg assistant pending", "data-model": model },
      h("div", { class: "who" }, model), this.status, this.body, this.meta);
    container.append(this.el);
  }

  /** Show the place in line; ahead=0 means next for a free slot. */
  waiting({ ahead, etaS }) {
    const label = this.status.querySelector("[data-text]");
    if (ahead > 0) {
      const eta = etaS === null ? "" : `, ~${duration(etaS)}`;
      label.textContent = `Waiting in queue: ${ahead} ahead${eta}`;
    } else {
      label.textContent = "Waiting in queue: next in line";
    }
  }

  append(piece) {
    if (!piece) return;
    if (!this.text) {
      this.status.remove();
      this.el.classList.remove("pending");
      this.el.classList.add("streaming");
    }
    this.text += piece;
    this.body.textContent = this.text;
  }

  #end(note) {
    this.status.remove();
    this.el.classList.remove("pending", "streaming");
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.meta.replaceChildren(...[note, duration(seconds)].filter(Boolean).map(
      (part) => h("span", {}, part)));
  }

  done(usage) {
    const tokens = usage?.completion_tokens;
    this.#end(Number.isFinite(tokens) ? `${tokens} tokens` : "");
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
}
