// What the two key pages (the admin panel's and everyone's own) do the same way. Both
// have #new-key (with #new-key-value and #copy-key); confirmations use dom.js's dialog.
import { api } from "/static/api.js";
import { confirmAction } from "/static/dom.js";
import { badge } from "/static/table.js";

const $ = (id) => document.getElementById(id);

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

/**
 * Create a key from `body` ({name, …}) and show it this once in #new-key; true if made.
 * notes: {flash, fail, signedOut?}; signedOut() is called instead of fail on a 401.
 */
export async function createKey(body, notes) {
  try {
    const created = await api("POST", "/api/keys", body);
    $("new-key-value").textContent = created.key;
    $("copy-key").textContent = "Copy";
    $("new-key").hidden = false;
    notes.flash(`Created key ${body.name}. Copy it now: it will not be shown again.`);
    return true;
  } catch (error) {
    if (error.status === 401 && notes.signedOut) notes.signedOut();
    else notes.fail(`Could not create key ${body.name}: ${error.message}`);
    return false;
  }
}

/** Revoke `key` once the user confirms; notes: {flash, fail}. */
export async function revokeKey(key, notes) {
  const ok = await confirmAction(
    `Revoke key ${key.name}? Programs using it get 401 from now on.`, "Revoke key", "Keep key");
  if (!ok) return;
  try {
    await api("DELETE", `/api/keys/${key.id}`);
    notes.flash(`Revoked key ${key.name}.`);
  } catch (error) {
    notes.fail(`Could not revoke ${key.name}: ${error.message}`);
  }
}
