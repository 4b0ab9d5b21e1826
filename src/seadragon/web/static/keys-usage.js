// Your own usage on the keys page: tokens per day per model (a chart) and per key and
// model over the last 30 days. The API answers only the signed-in user's own rows.
import { h } from "/static/dom.js";
import { drawTokensPerDay, usageRows } from "/static/admin-usage.js";

const $ = (id) => document.getElementById(id);
const DAYS = 30;

async function show() {
  try {
    await drawTokensPerDay($("my-chart-tokens"), DAYS);
    const now = new Date();
    const rows = await usageRows({
      group_by: "key,model", since: new Date(now - DAYS * 24 * 3600e3).toISOString(),
      until: now.toISOString(),
    });
    const td = (content, cls = "") => h("td", { class: cls }, content);
    $("my-usage").tBodies[0].replaceChildren(...rows.map((r) => h("tr", {},
      td(r.key === null ? "web chat" : `#${r.key}`),
      td(r.model),
      td(r.requests, "num"),
      td(r.prompt_tokens, "num"),
      td(r.completion_tokens, "num"),
      td(r.errors, "num"),
    )));
    $("my-usage-empty").hidden = rows.length > 0;
  } catch (error) {
    $("my-usage-empty").textContent = `Could not load your usage: ${error.message}`;
    $("my-usage-empty").hidden = false;
  }
}

show();
