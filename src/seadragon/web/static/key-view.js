// What the two key pages (the admin panel's and everyone's own) show the same way.
import { badge } from "/static/table.js";

/** active, expired or revoked, as a badge. */
export function keyState(key) {
  if (key.revoked_at || key.revoked) return badge("revoked", "bad");
  if (key.expires_at && new Date(key.expires_at) < new Date()) return badge("expired", "warn");
  return badge("active", "ok");
}

/** Copy the text of `source` to the clipboard; `button` says how it went. */
export async function copyShownKey(source, button) {
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch {
    // The clipboard API needs a secure context; on plain http select the text instead.
    getSelection().selectAllChildren(source);
    button.textContent = "Press Ctrl+C";
  }
}
