// The API keys tab: list (everyone's or one owner's), create (shown once), revoke.
import { api } from "/static/api.js";
import { h, when } from "/static/dom.js";
import { copyShownKey, createKey, keyState, revokeKey } from "/static/key-view.js";
import { badge, listOf, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

export class KeysPanel {
  /** ctx: {me, userName(id), bands(), flash(msg), fail(msg)} */
  constructor(ctx) {
    this.ctx = ctx;
    $("key-form").addEventListener("submit", (event) => this.create(event));
    $("key-owner").addEventListener("change", () => this.load());
    $("copy-key").addEventListener("click", () => this.copy());
  }

  /** Refresh the owner choices from the users list (keeping the current choices). */
  setUsers(users) {
    const choose = (select, first) => {
      const chosen = select.value;
      select.replaceChildren(first, ...users.map((u) => h("option", { value: u.id }, u.name)));
      select.value = users.some((u) => String(u.id) === chosen) ? chosen : first.value;
    };
    choose($("key-owner"), h("option", { value: "" }, "Everyone"));
    choose($("key-form").user_id, h("option", { value: this.ctx.me.id }, "Yourself"));
  }

  async load() {
    const select = $("key-form").band;
    const bands = await this.ctx.bands();
    if (select.options.length !== bands.length) {
      select.replaceChildren(...bands.map((b) => h("option", { value: b }, b)));
    }
    const owner = $("key-owner").value;
    let keys;
    try {
      const query = owner ? `user_id=${encodeURIComponent(owner)}` : "all_users=true";
      keys = listOf(await api("GET", `/api/keys?${query}`), "keys");
    } catch (error) {
      this.ctx.fail(`Could not load keys: ${error.message}`);
      return;
    }
    syncRows($("keys"), keys, (k) => k.id, (k) => [
      { content: k.id, cls: "num" },
      k.name,
      this.ctx.userName(k.user_id),
      { content: k.display ?? `${k.prefix}…${k.last4}`, cls: "rid" },
      badge(k.band ?? "–"),
      when(k.created_at),
      k.expires_at ? when(k.expires_at) : "never",
      when(k.last_used_at),
      keyState(k),
      {
        sig: `revoke:${Boolean(k.revoked_at || k.revoked)}`,
        content: () => (k.revoked_at || k.revoked ? "" : h("button", {
          class: "btn danger small", type: "button", onclick: () => this.revoke(k),
        }, "Revoke")),
      },
    ]);
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const name = form.elements.namedItem("name").value.trim();
    const body = { name, band: form.band.value, user_id: Number(form.user_id.value) };
    if (form.expires.value) {
      // The key works through the whole chosen day, in the admin's time zone.
      body.expires_at = new Date(`${form.expires.value}T23:59:59`).toISOString();
    }
    const notes = { flash: this.ctx.flash, fail: this.ctx.fail };
    if (await createKey(body, notes)) {
      form.elements.namedItem("name").value = "";
      form.expires.value = "";
    }
    await this.load();
  }

  async copy() {
    await copyShownKey($("new-key-value"), $("copy-key"));
  }

  async revoke(key) {
    await revokeKey(key, this.ctx);
    await this.load();
  }
}
