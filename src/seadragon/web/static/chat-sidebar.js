// The conversation list: newest first, search by title, rename in place, delete.
import { api } from "/static/api.js";
import { confirmAction, h } from "/static/dom.js";

const $ = (id) => document.getElementById(id);

export class Sidebar {
  /** handlers: {open(id), deleted(id), fail(message)} */
  constructor(handlers) {
    this.handlers = handlers;
    this.list = $("conversations");
    this.search = $("search");
    this.current = null;
    this.conversations = [];
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.load(), 200);
    });
  }

  async load() {
    const q = this.search.value.trim();
    let body;
    try {
      body = await api("GET", `/api/conversations?q=${encodeURIComponent(q)}`);
    } catch (error) {
      this.handlers.fail(`Could not load your conversations: ${error.message}`);
      return;
    }
    this.conversations = body.data;
    this.render();
  }

  /** Mark `id` as the open conversation (null: a new, unsaved chat). */
  select(id) {
    this.current = id;
    for (const item of this.list.children) {
      item.classList.toggle("current", item.dataset.id === String(id));
    }
  }

  render() {
    const items = this.conversations.map((c) => this.item(c));
    if (items.length === 0) {
      const text = this.search.value.trim() ? "No conversation has that in its title." : "No conversations yet.";
      items.push(h("li", { class: "none" }, text));
    }
    this.list.replaceChildren(...items);
    this.select(this.current);
  }

  item(conversation) {
    const title = conversation.title || "New chat";
    const open = h("button", { class: "open", type: "button", title }, title);
    open.addEventListener("click", () => this.handlers.open(conversation.id));
    const rename = h("button", { class: "icon", type: "button", title: "Rename",
      "aria-label": `Rename ${title}` }, "✎");
    rename.addEventListener("click", () => this.rename(conversation, li));
    const remove = h("button", { class: "icon", type: "button", title: "Delete",
      "aria-label": `Delete ${title}` }, "×");
    remove.addEventListener("click", () => this.remove(conversation));
    const li = h("li", { "data-id": conversation.id }, open, rename, remove);
    return li;
  }

  rename(conversation, li) {
    const input = h("input", { type: "text", maxlength: 200, "aria-label": "New title" });
    input.value = conversation.title;
    li.replaceChildren(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title && title !== conversation.title) {
        try {
          await api("PATCH", `/api/conversations/${conversation.id}`, { title });
        } catch (error) {
          this.handlers.fail(`Could not rename: ${error.message}`);
        }
      }
      await this.load();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }

  async remove(conversation) {
    const ok = await confirmAction(
      `Delete “${conversation.title || "New chat"}”? Its messages are gone for good.`,
      "Delete conversation", "Keep it");
    if (!ok) return;
    try {
      await api("DELETE", `/api/conversations/${conversation.id}`);
    } catch (error) {
      this.handlers.fail(`Could not delete: ${error.message}`);
      return;
    }
    this.handlers.deleted(conversation.id);
    await this.load();
  }
}
