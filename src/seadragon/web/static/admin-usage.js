// The usage tab: tokens per day per model, queue wait by band over the last hour and
// day (charts drawn in the page), and a table of usage by user, key and model.
import { api } from "/static/api.js";
import { h } from "/static/dom.js";
import { buckets, lines, short, stackedBars } from "/static/usage-chart.js";

const $ = (id) => document.getElementById(id);
const DAY = 24 * 3600e3;

/** Every page of one usage query (the API answers long ranges a window at a time). */
export async function usageRows(params) {
  const rows = [];
  let next = params;
  while (next) {
    const page = await api("GET", `/api/usage?${new URLSearchParams(next)}`);
    rows.push(...page.data);
    next = page.next;
  }
  return rows;
}

/** Tokens (in + out) per day per model, as a stacked bar chart in `box`. */
export async function drawTokensPerDay(box, days, extra = {}) {
  const now = new Date();
  const rows = await usageRows({
    group_by: "model,day", since: new Date(now - days * DAY).toISOString(),
    until: now.toISOString(), ...extra,
  });
  stackedBars(box, rows.map((r) => ({
    x: r.day, series: r.model, value: r.prompt_tokens + r.completion_tokens,
  })));
  return rows;
}

async function drawWaits(box, span, size) {
  const until = new Date();
  const since = new Date(until - span);
  const rows = await usageRows({
    group_by: `band,${size}`, since: since.toISOString(), until: until.toISOString(),
  });
  const data = rows.filter((r) => r.wait_p95_ms !== null)
    .map((r) => ({ x: r[size], series: `${r.band} p95`, value: r.wait_p95_ms / 1000 }));
  lines(box, data, buckets(since, until, size), { unit: " s" });
}

export class UsagePanel {
  /** ctx: {fail(msg), userName(id)} */
  constructor(ctx) {
    this.ctx = ctx;
    $("usage-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
  }

  async load() {
    const days = Number($("usage-form").elements.namedItem("days").value);
    try {
      await Promise.all([
        drawTokensPerDay($("chart-tokens"), days),
        drawWaits($("chart-wait-hour"), 3600e3, "minute"),
        drawWaits($("chart-wait-day"), DAY, "hour"),
        this.table(days),
      ]);
    } catch (error) {
      this.ctx.fail(`Could not load usage: ${error.message}`);
    }
  }

  async table(days) {
    const now = new Date();
    const rows = await usageRows({
      group_by: "user,key,model", since: new Date(now - days * DAY).toISOString(),
      until: now.toISOString(),
    });
    const ms = (v) => (v === null ? "–" : `${short(v / 1000)} s`);
    const td = (content, cls = "") => h("td", { class: cls }, content);
    $("usage").tBodies[0].replaceChildren(...rows.map((r) => h("tr", {},
      td(r.user === null ? "anonymous" : this.ctx.userName(r.user)),
      td(r.key === null ? "session" : `#${r.key}`),
      td(r.model),
      td(r.requests, "num"),
      td(r.prompt_tokens, "num"),
      td(r.completion_tokens, "num"),
      td(ms(r.wait_p50_ms), "num"),
      td(ms(r.wait_p95_ms), "num"),
      td(r.errors, "num"),
    )));
    $("usage-empty").hidden = rows.length > 0;
  }
}
