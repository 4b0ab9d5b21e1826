// The users tab: list, create, promote and demote, reset passwords, disable, delete, and
// set the highest band each user may give the API keys they make themselves.
import { api } from "/static/api.js";
import { confirmAction, h, when } from "/static/dom.js";
import { badge, listOf, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

/** Ask for a new password with #password-dialog; resolves with it, or null. */
function askPassword(user) {
  const dialog = $("password-dialog");
  const form = dialog.querySelector("form");
  form.reset();
  dialog.querySelector("[data-message]").textContent =
    `New password for ${user.name}. They are signed out everywhere; their API keys keep working.`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm" ? form.elements.namedItem("new_password").value : null);
    }, { once: true });
  });
}

export class UsersPanel {
  /** ctx: {me, bands(), flash(msg), fail(msg), usersChanged(users)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.users = [];
    this.bands = [];
    $("user-form").addEventListener("submit", (event) => this.create(event));
  }

  actions(u) {
    if (u.id === this.ctx.me.id) return h("span", { class: "models" }, "you");
    const button = (label, onclick, danger = false) => h("button",
      { class: `btn small ${danger ? "danger" : ""}`.trim(), type: "button", onclick }, label);
    return h("span", { class: "row-actions" },
      button(u.is_admin ? "Remove admin" : "Make admin", () => this.setAdmin(u, !u.is_admin)),
      button("Reset password", () => this.resetPassword(u)),
      button(u.disabled ? "Enable" : "Disable", () => this.setDisabled(u, !u.disabled), !u.disabled),
      button("Delete", () => this.remove(u), true));
  }

  /** Show users already fetched (the admin check fetches them once at start). */
  show(body) {
    if (!this.bandsAsked) {
      this.bandsAsked = true;
      this.ctx.bands().then((bands) => {
        this.bands = bands;
        this.show({ data: this.users });
      }, () => {});
    }
    this.users = listOf(body, "users");
    this.ctx.usersChanged(this.users);
    syncRows($("users"), this.users, (u) => u.id, (u) => [
      { content: u.id, cls: "num" },
      u.name,
      u.is_admin ? badge("admin", "accent") : "user",
      u.disabled ? badge("disabled", "bad") : badge("active", "ok"),
      {
        sig: `${u.max_band}:${this.bands.join(",")}`,
        content: () => (this.bands.length ? this.bandSelect(u) : u.max_band),
      },
      when(u.created_at),
      { sig: `${u.disabled}:${u.is_admin}:${u.id === this.ctx.me.id}`, content: () => this.actions(u) },
    ]);
  }

  bandSelect(user) {
    const select = h("select", {
      "aria-label": `Highest key band for ${user.name}`,
      onchange: () => this.setMaxBand(user, select.value),
    }, ...this.bands.map((b) => h("option", { value: b }, b)));
    select.value = user.max_band;
    return select;
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

  async setMaxBand(user, band) {
    await this.change(user, { max_band: band }, `${user.name}'s own keys may now be up to band ${band}.`);
  }

  async change(user, body, done) {
    try {
      await api("PATCH", `/api/users/${user.id}`, body);
      this.ctx.flash(done);
    } catch (error) {
      this.ctx.fail(`Could not change ${user.name}: ${error.message}`);
    }
    await this.load();
  }

  async setDisabled(user, disabled) {
    if (disabled) {
      const ok = await confirmAction(
        `Disable ${user.name}? They are signed out and their API keys stop working.`,
        "Disable user", "Keep enabled");
      if (!ok) return;
    }
    await this.change(user, { disabled }, `${disabled ? "Disabled" : "Enabled"} ${user.name}.`);
  }

  async setAdmin(user, isAdmin) {
    const ok = await confirmAction(
      isAdmin ? `Make ${user.name} an administrator? They can then manage every user, key and the queue.`
        : `Remove ${user.name}'s administrator rights?`,
      isAdmin ? "Make admin" : "Remove admin", "Leave as is");
    if (!ok) return;
    await this.change(user, { is_admin: isAdmin },
      isAdmin ? `${user.name} is now an administrator.` : `${user.name} is no longer an administrator.`);
  }

  async resetPassword(user) {
    const password = await askPassword(user);
    if (password === null) return;
    await this.change(user, { password }, `Set a new password for ${user.name}.`);
  }

  async remove(user) {
    const ok = await confirmAction(
      `Delete ${user.name}? Their API keys, sessions and conversations are deleted too. This cannot be undone.`,
      "Delete user", "Keep user");
    if (!ok) return;
    try {
      await api("DELETE", `/api/users/${user.id}`);
      this.ctx.flash(`Deleted user ${user.name}.`);
    } catch (error) {
      this.ctx.fail(`Could not delete ${user.name}: ${error.message}`);
    }
    await this.load();
  }
}
