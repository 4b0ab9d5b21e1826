// Keyed table updates for live data: rows and cells are changed in place, so a button
// under the pointer survives the once-a-second refresh instead of being rebuilt.
import { fill, h } from "/static/dom.js";

function normalize(spec) {
  if (spec === null || spec === undefined) return { sig: "", content: "", cls: "" };
  if (spec instanceof Element) {
    return { sig: `n:${spec.className}:${spec.textContent}`, content: spec, cls: "" };
  }
  if (typeof spec !== "object") return { sig: `t:${spec}`, content: spec, cls: "" };
  const content = spec.content ?? "";
  const sig = spec.sig ?? (typeof content === "function" ? "fn" : `t:${content}`);
  return { sig, content, cls: spec.cls ?? "" };
}

/**
 * Make `table`'s body show `items` in order.
 * cellsOf(item) → one spec per column: text, an element (compared by its text), or
 * {content, cls, sig}; a function as
 * content is built only when `sig` changes (use a constant sig for action buttons).
 */
export function syncRows(table, items, keyOf, cellsOf, rowClass = () => "") {
  const tbody = table.tBodies[0];
  const old = new Map(Array.from(tbody.rows, (row) => [row.dataset.key, row]));
  const rows = items.map((item) => {
    const key = String(keyOf(item));
    const row = old.get(key) ?? h("tr", { "data-key": key });
    old.delete(key);
    cellsOf(item).forEach((spec, i) => {
      const td = row.cells[i] ?? row.insertCell();
      const { sig, content, cls } = normalize(spec);
      if (td.dataset.sig !== sig) {
        td.dataset.sig = sig;
        fill(td, typeof content === "function" ? content() : content);
      }
      if (td.className !== cls) td.className = cls;
    });
    const wanted = rowClass(item);
    if (row.className !== wanted) row.className = wanted;
    return row;
  });
  for (const row of old.values()) row.remove();
  rows.forEach((row, i) => {
    if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] ?? null);
  });
  const empty = document.querySelector(`[data-empty-for="${table.id}"]`);
  if (empty) empty.hidden = items.length > 0;
}

/** A small badge element: kind is "", "ok", "bad", "warn" or "accent". */
export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

/** The list inside a response that may be a bare array or {"data"|key: [...]}. */
export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  return body?.[key] ?? body?.data ?? [];
}
