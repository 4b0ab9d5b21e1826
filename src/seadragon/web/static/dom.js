// Building DOM without HTML strings: every piece of text goes in through textContent,
// so model output and user input can never become markup.

/**
 * h("td", {class: "num", onclick: fn}, "text", childNode, null) → element.
 * Strings and numbers become text nodes; null/undefined/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = String(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "12.3 s", "4 min 05 s", "1 h 02 min": short human durations. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A date from the API (ISO string) as local "2024-05-01 14:03", or "–". */
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The one <dialog id="confirm"> of a page, made on first use. */
function confirmDialog() {
  const existing = document.getElementById("confirm");
  if (existing) return existing;
  const dialog = h(
    "dialog",
    { id: "confirm", class: "card" },
    h(
      "form",
      { method: "dialog" },
      h("p", { "data-message": true }),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { class: "btn", value: "cancel", type: "submit" }, "Go back"),
        h(
          "button",
          { class: "btn danger solid", value: "confirm", type: "submit", "data-confirm": true },
          "Confirm",
        ),
      ),
    ),
  );
  document.body.append(dialog);
  return dialog;
}

/**
 * Ask for confirmation in a modal dialog; resolves true or false.
 * A styled dialog rather than window.confirm, which browsers let users suppress. Both
 * buttons say what they do ("Cancel request" / "Keep waiting"), never a bare OK/Cancel.
 */
export function confirmAction(message, confirmLabel = "Confirm", keepLabel = "Go back") {
  const dialog = confirmDialog();
  dialog.querySelector("[data-message]").textContent = message;
  dialog.querySelector("[data-confirm]").textContent = confirmLabel;
  dialog.querySelector('button[value="cancel"]').textContent = keepLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
  });
}

/**
 * A page's two message lines: flash(message) shows a passing notice in `flashBox` (gone
 * after six seconds), fail(message) a lasting alert in `errorBox`; each hides the other.
 */
export function notices(flashBox, errorBox) {
  let timer = null;
  return {
    flash(message) {
      errorBox.hidden = true;
      flashBox.textContent = message;
      flashBox.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(() => { flashBox.hidden = true; }, 6000);
    },
    fail(message) {
      flashBox.hidden = true;
      errorBox.textContent = message;
      errorBox.hidden = false;
    },
  };
}
