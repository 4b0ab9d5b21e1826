// The live queue tab: polls /api/queue/status every second and shows bands, running and
// queued requests and workers; clears the queue, cancels requests, pauses bands and
// drains workers (admin-queue-control.js).
import { api } from "/static/api.js";
import { confirmAction, duration, fill, h } from "/static/dom.js";
import { modelPauses, pauseOf, QueueControl } from "/static/admin-queue-control.js";
import { badge, syncRows } from "/static/table.js";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

export class QueuePanel {
  /** ctx: {userName(id), flash(msg), fail(msg), denied(msg), signedOut()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.timer = null;
    this.inFlight = false;
    this.again = false;
    this.status = null;
    this.bandRows = new Map();
    $("clear-all").addEventListener("click", () => this.clear(null));
    this.control = new QueueControl({ ...ctx, refresh: () => this.refresh() });
    $("pause-all").addEventListener("click",
      () => this.control.pause(null, !pauseOf(this.status, null)));
  }

  start() {
    if (this.timer === null && !this.inFlight) this.tick();
    this.control.refreshAudit();
  }

  /** Poll now (after an action) instead of waiting for the next tick. */
  refresh() {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.tick();
  }

  async tick() {
    this.inFlight = true;
    this.again = false;
    const keepGoing = await this.poll();
    this.inFlight = false;
    if (keepGoing) this.timer = setTimeout(() => this.tick(), this.again ? 0 : POLL_MS);
  }

  /** One poll; false when polling must stop (signed out, not an admin). */
  async poll() {
    try {
      const status = await api("GET", "/api/queue/status");
      if (!Array.isArray(status.queued)) {
        this.ctx.denied("The server sent only the public queue summary: this account is not an administrator.");
        return false;
      }
      this.status = status;
      this.render(status);
      this.live(true, `Live · ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      if (error.status === 401) {
        this.ctx.signedOut();
        return false;
      }
      if (error.status === 403) {
        this.ctx.denied(error.message);
        return false;
      }
      this.live(false, `Connection lost: ${error.message}. Retrying…`);
    }
    return true;
  }

  live(ok, text) {
    $("live").className = `live ${ok ? "ok" : "bad"}`;
    $("live").querySelector("[data-text]").textContent = text;
  }

  render(status) {
    liveBusy(status);
    this.renderStats(status);
    this.renderBands(status.bands ?? []);
    const user = (item) => (item.user_id == null ? "–" : this.ctx.userName(item.user_id));
    const cancel = (item) => ({
      sig: "cancel",
      content: () => h("button", {
        class: "btn danger small", type: "button", onclick: () => this.cancel(item),
      }, "Cancel"),
    });
    $("running-count").textContent = String(status.running.length);
    syncRows($("running"), status.running, (r) => r.queue_id ?? r.id, (r) => [
      { content: r.id, cls: "rid" }, r.model, badge(r.band), r.backend ?? "–", user(r),
      { content: duration(r.waited_s), cls: "num" }, cancel(r),
    ]);
    const queued = [...status.queued].sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9));
    $("queued-count").textContent = String(queued.length);
    syncRows($("queued"), queued, (r) => r.queue_id ?? r.id, (r) => [
      { content: r.position ?? "–", cls: "num" }, { content: r.id, cls: "rid" }, r.model,
      r.state === "paused" ? badge(`${r.band} · paused`, "warn") : badge(r.band, "accent"),
      r.entry_band && r.entry_band !== r.band ? badge(`${r.entry_band} ↑ aged`, "warn") : r.entry_band ?? "–",
      user(r), { content: duration(r.waited_s), cls: "num" },
      { content: r.eta_s == null ? "–" : `~${duration(r.eta_s)}`, cls: "num" }, cancel(r),
    ], (r) => (r.entry_band && r.entry_band !== r.band ? "aged" : ""));
    syncRows($("workers"), status.workers ?? [], (w) => w.id, (w) => [
      { content: w.id, cls: "rid" }, w.backend, h("span", { title: w.url ?? "" }, w.kind ?? "–"),
      { sig: `s:${w.busy}/${w.slots}`, content: () => slots(w.busy, w.slots) },
      h("span", { class: "models" }, shortList(w.models ?? [])),
      w.draining ? badge("draining", "warn")
        : w.reachable ? badge("reachable", "ok") : badge(w.error ? `unreachable: ${w.error}` : "unreachable", "bad"),
      { sig: `d:${w.draining}`, content: () => h("button", {
        class: "btn small", type: "button", onclick: () => this.control.drain(drainTargets(status, w)),
      }, w.draining ? "Undrain" : "Drain") },
    ]);
    const all = pauseOf(status, null);
    $("pause-all").textContent = all ? "Resume all" : "Pause all";
    const note = $("paused-note");
    note.hidden = !(status.paused ?? []).length;
    note.textContent = all ? "every band paused" : `${(status.paused ?? []).length} paused`;
  }

  renderStats(status) {
    const workers = status.workers ?? [];
    const busy = workers.reduce((n, w) => n + (w.busy ?? 0), 0);
    const total = workers.reduce((n, w) => n + (w.slots ?? 0), 0);
    const reachable = workers.filter((w) => w.reachable).length;
    const stat = (label, value, sub) => h("div", { class: "card stat" },
      h("div", { class: "label" }, label), h("div", { class: "value" }, value),
      h("div", { class: "sub" }, sub));
    fill($("stats"),
      stat("Queued", status.queued.length, `${(status.bands ?? []).length} bands`),
      stat("Running", status.running.length, `${busy} of ${total} slots busy`),
      stat("Workers", `${reachable}/${workers.length}`, "reachable"),
      stat("Mean service", status.mean_service_s ? duration(status.mean_service_s) : "–",
        "per request"),
      stat("Queue", status.backend ?? "–", status.connected === false ? "disconnected" : "connected"),
    );
  }

  renderBands(bands) {
    const box = $("bands");
    for (const band of bands) {
      let row = this.bandRows.get(band.name);
      if (!row) {
        row = h("div", { class: "band", "data-band": band.name },
          h("span", { class: "name" }, band.name), h("div", { class: "bar" }, h("span")),
          h("span", { class: "depth" }), h("span", { class: "oldest" }),
          h("button", { class: "btn small pause", type: "button",
            onclick: () => this.control.pause(band.name, !pauseOf(this.status, band.name)) }, "Pause"),
          h("button", { class: "btn danger small", type: "button",
            onclick: () => this.clear(band.name) }, `Clear ${band.name}`));
        this.bandRows.set(band.name, row);
        box.append(row);
      }
      const share = band.max_depth ? Math.min(1, band.depth / band.max_depth) : 0;
      row.querySelector(".bar span").style.width = `${Math.max(band.depth ? 2 : 0, share * 100)}%`;
      row.classList.toggle("hot", share >= 0.5 && share < 0.9);
      row.classList.toggle("full", share >= 0.9);
      row.querySelector(".depth").textContent = `${band.depth} / ${band.max_depth ?? "∞"}`;
      const paused = pauseOf(this.status, band.name) ?? pauseOf(this.status, null);
      const models = modelPauses(this.status, band.name);
      row.classList.toggle("paused", Boolean(paused));
      row.querySelector(".pause").textContent = pauseOf(this.status, band.name) ? "Resume" : "Pause";
      row.querySelector(".oldest").textContent = [
        band.depth ? `oldest ${duration(band.oldest_wait_s)}` : "empty",
        paused ? "paused" : "", models.length ? `paused: ${models.join(", ")}` : "",
      ].filter(Boolean).join(" · ");
    }
  }

  async clear(band) {
    const count = band === null
      ? this.status?.queued.length ?? 0
      : this.status?.queued.filter((r) => r.band === band).length ?? 0;
    const what = band === null ? "the whole queue" : `the ${band} band`;
    const ok = await confirmAction(
      `Clear ${what} (${count} waiting)? Their callers get an error at once; running requests finish.`,
      "Clear queue",
      "Keep them waiting",
    );
    if (!ok) return;
    try {
      const result = await api("POST", "/api/queue/clear", band === null ? {} : { band });
      this.ctx.flash(`Cleared ${result.cleared} request${result.cleared === 1 ? "" : "s"} from ${what}.`);
    } catch (error) {
      this.ctx.fail(`Could not clear ${what}: ${error.message}`);
    }
    this.refresh();
  }

  async cancel(item) {
    const ok = await confirmAction(
      `Cancel request ${item.id} (${item.model})?`, "Cancel request", "Keep waiting");
    if (!ok) return;
    try {
      await api("DELETE", `/api/queue/requests/${encodeURIComponent(item.queue_id ?? item.id)}`);
      this.ctx.flash(`Cancelled request ${item.id}.`);
    } catch (error) {
      this.ctx.fail(`Could not cancel ${item.id}: ${error.message}`);
    }
    this.refresh();
  }
}

/** The worker, with the drain targets (its id, its backend) that hold it, for undrain. */
function drainTargets(status, worker) {
  const targets = (status.draining ?? []).map((d) => d.target)
    .filter((t) => t === worker.id || t === worker.backend);
  return { ...worker, drainedAs: targets.length ? targets : [worker.id] };
}

/**
 * Worker adverts can lag behind the live running list, so where a backend has one
 * worker, its busy slots are counted from the requests running on it now.
 */
function liveBusy(status) {
  const workers = status.workers ?? [];
  for (const worker of workers) {
    if (workers.filter((w) => w.backend === worker.backend).length !== 1) continue;
    worker.busy = status.running.filter((r) => r.backend === worker.backend).length;
  }
}

function slots(busy, total) {
  const boxes = Array.from({ length: Math.min(total ?? 0, 32) },
    (_, i) => h("i", { class: i < busy ? "busy" : "" }));
  return h("span", {}, h("span", { class: "slots" }, boxes), `${busy}/${total}`);
}

function shortList(items) {
  if (items.length <= 4) return items.join(", ") || "–";
  return `${items.slice(0, 4).join(", ")} +${items.length - 4} more`;
}
