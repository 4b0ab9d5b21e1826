// The API keys tab: list (everyone's or one owner's), create (shown once), revoke.
import { api } from "/static/api.js";
import { confirmAction, h, when } from "/static/dom.js";
import { badge, listOf, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

function keyState(key) {
  if (key.revoked_at || key.revoked) return badge("revoked", "bad");
  if (key.expires_at && new Date(key.expires_at) < new Date()) return badge("expired", "warn");
  return badge("active", "ok");
}

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
    try {
      const created = await api("POST", "/api/keys", {
        name, band: form.band.value, user_id: Number(form.user_id.value),
      });
      $("new-key-value").textContent = created.key;
      $("new-key").hidden = false;
      form.elements.namedItem("name").value = "";
      this.ctx.flash(`Created key ${name}. Copy it now: it will not be shown again.`);
    } catch (error) {
      this.ctx.fail(`Could not create key ${name}: ${error.message}`);
    }
    await this.load();
  }

  async copy() {
    const value = $("new-key-value").textContent;
    try {
      await navigator.clipboard.writeText(value);
      $("copy-key").textContent = "Copied";
    } catch {
      // The clipboard API needs a secure context; on plain http select the text instead.
      getSelection().selectAllChildren($("new-key-value"));
      $("copy-key").textContent = "Press Ctrl+C";
    }
  }

  async revoke(key) {
    const ok = await confirmAction(
      `Revoke key ${key.name}? Programs using it get 401 from now on.`, "Revoke");
    if (!ok) return;
    try {
      await api("DELETE", `/api/keys/${key.id}`);
      this.ctx.flash(`Revoked key ${key.name}.`);
    } catch (error) {
      this.ctx.fail(`Could not revoke ${key.name}: ${error.message}`);
    }
    await this.load();
  }
}
