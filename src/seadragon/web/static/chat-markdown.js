// Model answers as Markdown: marked renders, DOMPurify sanitizes, highlight.js colours code.
// Raw HTML in an answer is shown as text, never as markup; links open in a new tab with
// rel="noopener noreferrer" and only for http(s) and mailto; images become links (the page
// loads nothing from elsewhere). Streaming re-renders only the blocks that changed, so the
// part already on screen never flickers and code blocks keep their copy buttons.
import { Marked } from "/static/vendor/marked.esm.js";
import DOMPurify from "/static/vendor/purify.es.mjs";
import hljs from "/static/vendor/highlight.min.js";
import { h } from "/static/dom.js";

const SAFE_LINK = /^(https?:|mailto:)/i;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      if (!SAFE_LINK.test(href ?? "")) return escapeHtml(text || "");
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
  },
});

const purify = DOMPurify();
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") ?? "";
    if (SAFE_LINK.test(href)) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    } else {
      node.removeAttribute("href");
    }
  }
});

const PURIFY_OPTIONS = {
  FORBID_TAGS: ["style", "img", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style", "id", "name"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
};

/** Markdown → sanitized DOM nodes (not yet decorated). */
function toNodes(markdown) {
  const html = marked.parse(markdown, { async: false });
  const fragment = purify.sanitize(html, { ...PURIFY_OPTIONS, RETURN_DOM_FRAGMENT: true });
  // marked puts a newline between blocks; as text nodes they would only add noise.
  return Array.from(fragment.childNodes).filter(
    (node) => node.nodeType !== Node.TEXT_NODE || node.textContent.trim());
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

/** A highlighted code block with a header: its language and a copy button. */
function codeBlock(pre) {
  const code = pre.querySelector("code") ?? pre;
  const match = /language-([\w+#.-]+)/.exec(code.className);
  const language = match && hljs.getLanguage(match[1]) ? match[1] : null;
  const source = code.textContent;
  const result = language
    ? hljs.highlight(source, { language, ignoreIllegals: true })
    : hljs.highlightAuto(source);
  // highlight.js escapes the source itself; its output holds only <span class=…>.
  code.innerHTML = purify.sanitize(result.value, { ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"] });
  code.classList.add("hljs");
  const copy = h("button", { class: "btn small copy-code", type: "button" }, "Copy");
  copy.addEventListener("click", () => copyText(source, copy));
  return h("div", { class: "code-block" },
    h("div", { class: "code-head" },
      h("span", { class: "code-lang" }, language ?? result.language ?? "text"), copy),
    pre);
}

/** Turn every <pre> in `node` (or `node` itself) into a decorated code block. */
function decorate(node) {
  if (!(node instanceof Element)) return node;
  if (node.tagName === "PRE") return codeBlock(node);
  for (const pre of node.querySelectorAll("pre")) {
    const placeholder = document.createComment("");
    pre.replaceWith(placeholder);
    placeholder.replaceWith(codeBlock(pre));
  }
  return node;
}

/** Render `markdown` into `container`, replacing only the top-level blocks that changed. */
export function renderMarkdown(container, markdown) {
  const fresh = toNodes(markdown);
  const keys = fresh.map((node) => (node instanceof Element ? node.outerHTML : node.textContent));
  const old = Array.from(container.childNodes);
  let same = 0;
  while (same < old.length && same < fresh.length && old[same].mdKey === keys[same]) same += 1;
  for (const node of old.slice(same)) node.remove();
  for (let i = same; i < fresh.length; i += 1) {
    const node = decorate(fresh[i]);
    node.mdKey = keys[i];
    container.append(node);
  }
}

/**
 * Re-render at most once per animation frame while tokens stream in: each chunk calls
 * update(text); the page paints whole frames, never a half-built block.
 */
export class MarkdownStream {
  constructor(container) {
    this.container = container;
    this.text = "";
    this.frame = 0;
  }

  update(text) {
    this.text = text;
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        renderMarkdown(this.container, this.text);
      });
    }
  }

  /** Render what is there now (the answer ended). */
  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    renderMarkdown(this.container, this.text);
  }
}
