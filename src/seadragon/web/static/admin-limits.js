// The limits tab: limits per user or per key (requests and tokens per minute, running
// requests, allowed models, a token budget), set, changed and removed by admins.
import { api } from "/static/api.js";
import { confirmAction, fill, h } from "/static/dom.js";

const $ = (id) => document.getElementById(id);
const NUMBERS = ["requests_per_minute", "tokens_per_minute", "concurrent_requests", "token_budget"];

/** The form as a limit body: empty fields are no limit. */
export function limitBody(form) {
  const body = {};
  for (const name of NUMBERS) {
    const value = form.elements.namedItem(name).value.trim();
    body[name] = value === "" ? null : Number(value);
  }
  const models = form.elements.namedItem("allowed_models").value.split(",")
    .map((m) => m.trim()).filter(Boolean);
  body.allowed_models = models.length ? models : null;
  body.budget_period = body.token_budget === null ? null : form.elements.namedItem("budget_period").value;
  return body;
}

export class LimitsPanel {
  /** ctx: {flash(msg), fail(msg), userName(id)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $("limit-form");
    this.form.addEventListener("submit", (event) => this.save(event));
    this.form.elements.namedItem("scope").addEventListener("change", () => this.scopeChanged());
    this.scopeChanged();
  }

  setUsers(users) {
    const select = this.form.elements.namedItem("user_id");
    const chosen = select.value;
    fill(select, users.map((u) => h("option", { value: u.id }, u.name)));
    if (chosen) select.value = chosen;
  }

  scopeChanged() {
    const byKey = this.form.elements.namedItem("scope").value === "keys";
    this.form.querySelector("[data-for=users]").hidden = byKey;
    this.form.querySelector("[data-for=keys]").hidden = !byKey;
  }

  who(row) {
    return row.scope === "user" ? `user ${this.ctx.userName(row.user_id)}` : `key #${row.key_id}`;
  }

  async load() {
    let body;
    try {
      body = await api("GET", "/api/limits");
    } catch (error) {
      this.ctx.fail(`Could not load limits: ${error.message}`);
      return;
    }
    const show = (v) => (v === null ? "–" : String(v));
    const td = (content, cls = "") => h("td", { class: cls }, content);
    $("limits").tBodies[0].replaceChildren(...body.data.map((row) => h("tr", {},
      td(this.who(row)),
      td(show(row.requests_per_minute), "num"),
      td(show(row.tokens_per_minute), "num"),
      td(show(row.concurrent_requests), "num"),
      td(row.allowed_models === null ? "any" : row.allowed_models.join(", ")),
      td(row.token_budget === null ? "–" : `${row.token_budget} / ${row.budget_period}`, "num"),
      td(h("span", {},
        h("button", { class: "btn small", type: "button", onclick: () => this.edit(row) }, "Edit"),
        " ",
        h("button", { class: "btn small danger", type: "button", onclick: () => this.remove(row) },
          "Remove"))),
    )));
    $("limits-empty").hidden = body.data.length > 0;
  }

  edit(row) {
    const f = this.form.elements;
    f.namedItem("scope").value = row.scope === "user" ? "users" : "keys";
    this.scopeChanged();
    if (row.scope === "user") f.namedItem("user_id").value = String(row.user_id);
    else f.namedItem("key_id").value = String(row.key_id);
    for (const name of NUMBERS) f.namedItem(name).value = row[name] ?? "";
    f.namedItem("allowed_models").value = (row.allowed_models ?? []).join(", ");
    f.namedItem("budget_period").value = row.budget_period ?? "day";
  }

  path() {
    const f = this.form.elements;
    const scope = f.namedItem("scope").value;
    const id = scope === "users" ? f.namedItem("user_id").value : f.namedItem("key_id").value;
    return `/api/limits/${scope}/${encodeURIComponent(id)}`;
  }

  async save(event) {
    event.preventDefault();
    try {
      await api("PUT", this.path(), limitBody(this.form));
      this.ctx.flash("Limits saved.");
    } catch (error) {
      this.ctx.fail(`Could not save the limits: ${error.message}`);
    }
    await this.load();
  }

  async remove(row) {
    if (!await confirmAction(`Remove every limit of ${this.who(row)}?`, "Remove")) return;
    const path = row.scope === "user" ? `users/${row.user_id}` : `keys/${row.key_id}`;
    try {
      await api("DELETE", `/api/limits/${path}`);
      this.ctx.flash(`Removed the limits of ${this.who(row)}.`);
    } catch (error) {
      this.ctx.fail(`Could not remove the limits: ${error.message}`);
    }
    await this.load();
  }
}
