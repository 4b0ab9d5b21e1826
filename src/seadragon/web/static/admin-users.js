// The users tab: list, create, disable and enable accounts.
import { api } from "/static/api.js";
import { confirmAction, h, when } from "/static/dom.js";
import { badge, listOf, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

export class UsersPanel {
  /** ctx: {me, flash(msg), fail(msg), usersChanged(users)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.users = [];
    $("user-form").addEventListener("submit", (event) => this.create(event));
  }

  /** Show users already fetched (the admin check fetches them once at start). */
  show(body) {
    this.users = listOf(body, "users");
    this.ctx.usersChanged(this.users);
    syncRows($("users"), this.users, (u) => u.id, (u) => [
      { content: u.id, cls: "num" },
      u.name,
      u.is_admin ? badge("admin", "accent") : "user",
      u.disabled ? badge("disabled", "bad") : badge("active", "ok"),
      when(u.created_at),
      {
        sig: `${u.disabled}:${u.id === this.ctx.me.id}`,
        content: () => (u.id === this.ctx.me.id ? h("span", { class: "models" }, "you") : h(
          "button",
          { class: `btn small ${u.disabled ? "" : "danger"}`, type: "button",
            onclick: () => this.setDisabled(u, !u.disabled) },
          u.disabled ? "Enable" : "Disable",
        )),
      },
    ]);
  }

  async load() {
    try {
      this.show(await api("GET", "/api/users"));
    } catch (error) {
      this.ctx.fail(`Could not load users: ${error.message}`);
    }
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const name = form.elements.namedItem("name").value.trim();
    try {
      await api("POST", "/api/users", {
        name, password: form.password.value, is_admin: form.is_admin.checked,
      });
      form.reset();
      this.ctx.flash(`Created user ${name}.`);
    } catch (error) {
      this.ctx.fail(`Could not create user ${name}: ${error.message}`);
    }
    await this.load();
  }

  async setDisabled(user, disabled) {
    if (disabled) {
      const ok = await confirmAction(
        `Disable ${user.name}? They are signed out and their API keys stop working.`, "Disable");
      if (!ok) return;
    }
    try {
      await api("PATCH", `/api/users/${user.id}`, { disabled });
      this.ctx.flash(`${disabled ? "Disabled" : "Enabled"} ${user.name}.`);
    } catch (error) {
      this.ctx.fail(`Could not change ${user.name}: ${error.message}`);
    }
    await this.load();
  }
}
