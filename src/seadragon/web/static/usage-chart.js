// Charts drawn in the page as inline SVG (no library, nothing fetched from elsewhere):
// stacked bars for tokens per day, lines for queue waits over time.
import { fill, h } from "/static/dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 34 };
const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A readable axis number: 1.2k, 3.4M, 0.25. */
export function short(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function frame(svg, max, labels, unit) {
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i += 1) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    svg.append(el("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y }));
    svg.append(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, short((max * i) / 4) + unit));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, labels.length);
  labels.forEach((label, i) => {
    if (i % step) return;
    const x = PAD.left + slot * (i + 0.5);
    svg.append(el("text", { x, y: HEIGHT - 12, "text-anchor": "middle" }, label));
  });
  return { plotH, slot };
}

function legend(names) {
  return h("div", { class: "legend" }, names.map((name, i) => {
    const swatch = h("i");
    swatch.style.background = PALETTE[i % PALETTE.length];
    return h("span", {}, swatch, name);
  }));
}

/**
 * Stacked bars: one bar per x label, one colour per series.
 * data: [{x, series, value}]; draws into `box` (an element), replacing what was there.
 */
export function stackedBars(box, data, { unit = "" } = {}) {
  const xs = [...new Set(data.map((d) => d.x))].sort();
  const names = [...new Set(data.map((d) => d.series))].sort();
  const totals = new Map(xs.map((x) => [x, 0]));
  for (const d of data) totals.set(d.x, totals.get(d.x) + d.value);
  const max = Math.max(1, ...totals.values());
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  const { plotH, slot } = frame(svg, max, xs.map((x) => x.slice(5)), unit);
  xs.forEach((x, i) => {
    let base = PAD.top + plotH;
    names.forEach((name, n) => {
      const value = data.filter((d) => d.x === x && d.series === name)
        .reduce((sum, d) => sum + d.value, 0);
      if (!value) return;
      const height = (plotH * value) / max;
      base -= height;
      svg.append(el("rect", {
        class: "bar", x: PAD.left + slot * i + slot * 0.15, y: base, width: slot * 0.7,
        height, fill: PALETTE[n % PALETTE.length],
      }, el("title", {}, `${x} ${name}: ${short(value)}${unit}`)));
    });
  });
  fill(box, svg, legend(names));
}

/**
 * Lines over ordered x labels, one per series. data: [{x, series, value}];
 * xs: every x label in order (gaps stay gaps).
 */
export function lines(box, data, xs, { unit = "" } = {}) {
  const names = [...new Set(data.map((d) => d.series))].sort();
  const max = Math.max(1, ...data.map((d) => d.value));
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  const { plotH, slot } = frame(svg, max, xs.map((x) => x.slice(11)), unit);
  const index = new Map(xs.map((x, i) => [x, i]));
  names.forEach((name, n) => {
    const points = data.filter((d) => d.series === name && index.has(d.x))
      .sort((a, b) => index.get(a.x) - index.get(b.x))
      .map((d) => [PAD.left + slot * (index.get(d.x) + 0.5), PAD.top + plotH - (plotH * d.value) / max, d]);
    const colour = PALETTE[n % PALETTE.length];
    if (points.length > 1) {
      svg.append(el("polyline", {
        class: "line", fill: "none", stroke: colour, "stroke-width": 2,
        points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
      }));
    }
    for (const [x, y, d] of points) {
      svg.append(el("circle", { class: "point", cx: x, cy: y, r: 3, fill: colour },
        el("title", {}, `${d.x} ${name}: ${short(d.value)}${unit}`)));
    }
  });
  fill(box, svg, legend(names));
}

/** Every bucket label between `since` and `until` ("hour" or "minute"), UTC like the API. */
export function buckets(since, until, size) {
  const step = size === "hour" ? 3600e3 : 60e3;
  const out = [];
  const start = Math.floor(since.getTime() / step) * step;
  for (let t = start; t <= until.getTime(); t += step) {
    const iso = new Date(t).toISOString();
    out.push(size === "hour" ? `${iso.slice(0, 13)}:00` : iso.slice(0, 16));
  }
  return out;
}
