// The requests tab: the request log with filters, paging ("Load more") and CSV export.
import { api } from "/static/api.js";
import { fill, h, when } from "/static/dom.js";
import { badge } from "/static/table.js";

const $ = (id) => document.getElementById(id);
const STATUS_KIND = { ok: "ok", error: "bad", timeout: "bad", rejected: "warn", cleared: "warn" };

/** The form's filters as query parameters (empty fields left out, local times as UTC). */
export function filterParams(form) {
  const params = new URLSearchParams();
  for (const name of ["user_id", "key_id", "model", "band", "status"]) {
    const value = form.elements.namedItem(name)?.value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["since", "until"]) {
    const value = form.elements.namedItem(name)?.value;
    if (value) params.set(name, new Date(value).toISOString());
  }
  return params;
}

function ms(value) {
  if (value === null || value === undefined) return "–";
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
}

export class RequestsPanel {
  /** ctx: {fail(msg), userName(id), bands()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $("requests-form");
    this.next = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    $("requests-more").addEventListener("click", () => this.load(true));
    this.form.addEventListener("input", () => this.exportLink());
  }

  setUsers(users) {
    const select = this.form.elements.namedItem("user_id");
    const chosen = select.value;
    fill(select, h("option", { value: "" }, "Everyone"),
      users.map((u) => h("option", { value: u.id }, u.name)));
    select.value = chosen;
  }

  async fillBands() {
    const select = this.form.elements.namedItem("band");
    if (select.options.length > 1) return;
    for (const band of await this.ctx.bands()) select.append(h("option", { value: band }, band));
  }

  exportLink() {
    $("requests-csv").href = `/api/requests.csv?${filterParams(this.form)}`;
  }

  async load(more = false) {
    await this.fillBands();
    this.exportLink();
    const params = filterParams(this.form);
    params.set("limit", "100");
    if (more && this.next) params.set("before", String(this.next));
    let page;
    try {
      page = await api("GET", `/api/requests?${params}`);
    } catch (error) {
      this.ctx.fail(`Could not load the request log: ${error.message}`);
      return;
    }
    const tbody = $("requests").tBodies[0];
    if (!more) tbody.replaceChildren();
    for (const row of page.data) tbody.append(this.row(row));
    this.next = page.next_before;
    $("requests-more").hidden = !this.next;
    $("requests-empty").hidden = tbody.rows.length > 0;
  }

  row(r) {
    const bands = r.dispatch_band && r.dispatch_band !== r.entry_band
      ? `${r.entry_band} → ${r.dispatch_band}` : r.entry_band;
    const tokens = r.prompt_tokens === null && r.completion_tokens === null
      ? "–" : `${r.prompt_tokens ?? 0} / ${r.completion_tokens ?? 0}`;
    const td = (content, cls = "") => h("td", { class: cls }, content);
    return h("tr", { "data-status": r.status },
      td(when(r.queued_at)),
      td(h("span", { class: "rid" }, r.request_id)),
      td(r.user_id === null ? "anonymous" : this.ctx.userName(r.user_id)),
      td(r.key_id === null ? "–" : `#${r.key_id}`),
      td(r.model),
      td(r.backend ?? "–"),
      td(bands),
      td(badge(r.http_status ? `${r.status} ${r.http_status}` : r.status, STATUS_KIND[r.status] ?? "")),
      td(ms(r.wait_ms), "num"),
      td(ms(r.run_ms), "num"),
      td(tokens, "num"),
    );
  }
}
