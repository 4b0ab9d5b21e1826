// Queue control in the admin panel's queue tab: pause and resume bands, drain and undrain
// workers, and the audit log of every such action (GET /api/queue/audit).
import { api } from "/static/api.js";
import { confirmAction, h, when } from "/static/dom.js";
import { syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

/** The pause of `band` (null: every band) for every model, if switched on. */
export function pauseOf(status, band) {
  return (status?.paused ?? []).find((p) => p.band === band && p.model == null) ?? null;
}

/** Pauses of single models in `band`, as "model" labels. */
export function modelPauses(status, band) {
  return (status?.paused ?? [])
    .filter((p) => p.model != null && (p.band === band || p.band == null))
    .map((p) => p.model);
}

export class QueueControl {
  /** ctx: {flash(msg), fail(msg), refresh()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.auditShown = false;
  }

  async pause(band, on) {
    const what = band === null ? "every band" : `the ${band} band`;
    if (on) {
      const ok = await confirmAction(
        `Pause ${what}? Its requests stay queued (and keep aging) but are not started until you resume.`,
        "Pause", "Go back");
      if (!ok) return;
    }
    await this.#act(on ? "pause" : "resume", { band }, `${on ? "Paused" : "Resumed"} ${what}.`);
  }

  async drain(worker) {
    const target = worker.id;
    if (!worker.draining) {
      const ok = await confirmAction(
        `Drain worker ${target} (${worker.backend})? It finishes what it runs and takes no new request.`,
        "Drain", "Go back");
      if (!ok) return;
    }
    const action = worker.draining ? "undrain" : "drain";
    const targets = worker.drainedAs ?? [target];
    for (const name of action === "undrain" ? targets : [target]) {
      await this.#act(action, { target: name },
        action === "drain" ? `Draining ${target}.` : `${target} takes work again.`);
    }
  }

  async #act(action, body, message) {
    try {
      await api("POST", `/api/queue/${action}`, body);
      this.ctx.flash(message);
    } catch (error) {
      this.ctx.fail(`Could not ${action}: ${error.message}`);
    }
    this.ctx.refresh();
    this.refreshAudit();
  }

  async refreshAudit() {
    try {
      const page = await api("GET", "/api/queue/audit?limit=50");
      const rows = page.data ?? [];
      syncRows($("queue-audit"), rows, (r) => r.id, (r) => [
        when(r.at), r.user_name ?? (r.user_id == null ? "-" : `#${r.user_id}`),
        h("span", { class: `badge ${r.action}` }, r.action),
        r.band ?? (r.action === "pause" || r.action === "resume" ? "all" : "-"),
        r.model ?? "-", r.target ?? (r.cleared == null ? "-" : `${r.cleared} cleared`),
      ]);
      $("queue-audit-empty").hidden = rows.length > 0;
    } catch (error) {
      if (error.status !== 401 && error.status !== 403) {
        this.ctx.fail(`Could not read the queue audit log: ${error.message}`);
      }
    }
  }
}
