// The models tab: what each backend has and holds in memory (GET /api/models), pulling a
// model with live progress (Ollama's NDJSON from POST /api/pull), deleting one (confirmed)
// and unloading a loaded one (POST /api/models/unload, Ollama's keep_alive 0).
import { api, authHeaders, errorFrom } from "/static/api.js";
import { confirmAction, fill, h, when } from "/static/dom.js";
import { readLines } from "/static/lines.js";
import { badge, syncRows } from "/static/table.js";

const $ = (id) => document.getElementById(id);

/** 4.7 GB, 980.0 MB, 12 B: sizes as Ollama's CLI shows them (powers of 1000). */
export function bytes(size) {
  if (size === null || size === undefined || Number.isNaN(size)) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Call onLine(object) for every NDJSON line of a fetch body, as it arrives. */
export async function readNdjson(response, onLine) {
  await readLines(response, (text) => {
    if (text.trim()) onLine(JSON.parse(text));
  });
}

/** One pull's progress: a bar per backend and layer, a status line per backend. */
class PullProgress {
  constructor(model) {
    this.bars = new Map();
    this.statuses = new Map();
    this.failures = new Map();
    this.error = null;
    this.done = false;
    $("pull-title").textContent = `Pulling ${model}`;
    $("pull-layers").replaceChildren();
    $("pull-backends").replaceChildren();
    $("pull-result").hidden = true;
    $("pull-progress").hidden = false;
  }

  take(line) {
    if ("error" in line) {
      this.error = String(line.error);
      return;
    }
    const backend = line.backend;
    if (typeof backend !== "string") {
      if (line.status === "success") this.done = true;
      return;
    }
    if (line.digest && Number.isInteger(line.total)) this.layer(backend, line);
    this.status(backend, String(line.status ?? ""));
  }

  layer(backend, line) {
    const key = `${backend} ${line.digest}`;
    let bar = this.bars.get(key);
    if (!bar) {
      const digest = String(line.digest).replace(/^sha256:/, "").slice(0, 12);
      bar = {
        progress: h("progress", { max: line.total, value: 0, "aria-label": `${backend} ${digest}` }),
        figures: h("span", { class: "figures" }),
      };
      $("pull-layers").append(h("li", { "data-layer": key },
        h("span", { class: "layer-name" }, h("strong", {}, backend), ` ${digest}`),
        bar.progress, bar.figures));
      this.bars.set(key, bar);
    }
    const completed = Number.isInteger(line.completed) ? line.completed : 0;
    bar.progress.max = line.total;
    bar.progress.value = completed;
    bar.figures.textContent = `${bytes(completed)} / ${bytes(line.total)}`;
  }

  status(backend, status) {
    if (status.startsWith("failed: ")) this.failures.set(backend, status.slice(8));
    let item = this.statuses.get(backend);
    if (!item) {
      item = h("li", { "data-backend": backend });
      $("pull-backends").append(item);
      this.statuses.set(backend, item);
    }
    fill(item, h("strong", {}, backend), `: ${status}`);
    item.className = this.failures.has(backend) ? "failed" : "";
  }

  get ok() {
    return this.done && this.error === null && this.failures.size === 0;
  }

  finish(message) {
    const result = $("pull-result");
    result.textContent = message;
    result.className = this.ok ? "notice" : "alert";
    result.hidden = false;
  }
}

export class ModelsPanel {
  /** ctx: {flash(msg), fail(msg)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $("pull-form");
    this.form.addEventListener("submit", (event) => this.pull(event));
    $("models-refresh").addEventListener("click", () => this.load());
  }

  async load() {
    let body;
    try {
      body = await api("GET", "/api/models");
    } catch (error) {
      this.ctx.fail(`Could not load the models: ${error.message}`);
      return;
    }
    this.show(body.backends ?? []);
  }

  show(backends) {
    const have = [];
    const loaded = [];
    for (const backend of backends) {
      const held = new Set((backend.loaded ?? []).map((m) => m.name));
      for (const model of backend.models ?? []) have.push({ backend, model, held: held.has(model.name) });
      for (const model of backend.loaded ?? []) loaded.push({ backend, model });
    }
    const key = (row) => `${row.backend.name} ${row.model.name}`;
    syncRows($("models"), have, key, (row) => [
      row.backend.name,
      row.model.name,
      { content: bytes(row.model.size), cls: "num" },
      row.model.details?.quantization_level || "–",
      row.model.modified_at ? when(row.model.modified_at) : "–",
      row.held ? badge("loaded", "ok") : "",
      { sig: `del:${row.backend.manageable}`, content: () => row.backend.manageable
        ? h("button", { class: "btn small danger", type: "button",
          onclick: () => this.remove(row.backend.name, row.model.name) }, "Delete")
        : "" },
    ]);
    syncRows($("loaded"), loaded, key, (row) => [
      row.backend.name,
      row.model.name,
      { content: bytes(row.model.size), cls: "num" },
      { content: bytes(row.model.size_vram), cls: "num" },
      row.model.expires_at ? when(row.model.expires_at) : "–",
      { sig: `unload:${row.backend.manageable}`, content: () => row.backend.manageable
        ? h("button", { class: "btn small", type: "button",
          onclick: () => this.unload(row.backend.name, row.model.name) }, "Unload")
        : "" },
    ]);
    this.showBackends(backends);
  }

  showBackends(backends) {
    const select = this.form.elements.namedItem("backend");
    const chosen = select.value;
    const manageable = backends.filter((b) => b.manageable);
    fill(select, h("option", { value: "all" }, "every Ollama backend"),
      manageable.map((b) => h("option", { value: b.name }, b.name)));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    fill($("backend-notes"), backends.filter((b) => !b.reachable || !b.manageable).map((b) =>
      h("li", {}, h("strong", {}, b.name), !b.reachable
        ? ": unreachable now, its models are not listed"
        : ": an OpenAI-compatible server; Seadragon manages models only on Ollama backends")));
  }

  async pull(event) {
    event.preventDefault();
    const model = this.form.elements.namedItem("model").value.trim();
    const backend = this.form.elements.namedItem("backend").value;
    if (!model) return;
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    const progress = new PullProgress(model);
    try {
      const response = await fetch("/api/pull", {
        method: "POST",
        credentials: "same-origin",
        headers: authHeaders("POST", { "Content-Type": "application/json" }),
        body: JSON.stringify({ model, backend, stream: true }),
      });
      if (!response.ok) throw await errorFrom(response);
      await readNdjson(response, (line) => progress.take(line));
      if (progress.ok) progress.finish(`Pulled ${model}.`);
      else if (progress.error) progress.finish(`Pulling ${model} failed: ${progress.error}`);
      else progress.finish(`The gateway ended the pull of ${model} before it finished.`);
    } catch (error) {
      progress.finish(`Pulling ${model} failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
    await this.load();
  }

  async remove(backend, model) {
    const question = `Delete ${model} from ${backend}? Its files are removed from the backend; ` +
      "pulling it again downloads it whole.";
    if (!await confirmAction(question, "Delete model", "Keep it")) return;
    try {
      await api("DELETE", "/api/delete", { model, backend });
      this.ctx.flash(`Deleted ${model} from ${backend}.`);
    } catch (error) {
      this.ctx.fail(`Could not delete ${model}: ${error.message}`);
    }
    await this.load();
  }

  async unload(backend, model) {
    try {
      await api("POST", "/api/models/unload", { model, backend });
      this.ctx.flash(`Unloaded ${model} on ${backend}.`);
    } catch (error) {
      this.ctx.fail(`Could not unload ${model}: ${error.message}`);
    }
    await this.load();
  }
}
