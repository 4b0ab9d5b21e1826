// The per-conversation settings panel: system prompt, temperature, max tokens.
const $ = (id) => document.getElementById(id);

function numberOrNull(input, parse) {
  const text = input.value.trim();
  if (!text) return null;
  const value = parse(text);
  return Number.isFinite(value) ? value : null;
}

export class SettingsPanel {
  /** onChange(settings) is called when the user changes a field (after validation). */
  constructor(onChange) {
    this.form = $("settings-form");
    this.prompt = $("system-prompt");
    this.temperature = $("temperature");
    this.maxTokens = $("max-tokens");
    $("settings-toggle").addEventListener("click", () => this.toggle());
    this.form.addEventListener("submit", (event) => event.preventDefault());
    this.form.addEventListener("change", () => {
      if (this.form.reportValidity()) onChange(this.value());
    });
  }

  toggle(open = this.form.hidden) {
    this.form.hidden = !open;
    $("settings-toggle").setAttribute("aria-expanded", String(open));
    if (open) this.prompt.focus();
  }

  /** {system_prompt, temperature, max_tokens}, null meaning the model's default. */
  value() {
    return {
      system_prompt: this.prompt.value.trim() ? this.prompt.value : null,
      temperature: numberOrNull(this.temperature, Number.parseFloat),
      max_tokens: numberOrNull(this.maxTokens, (t) => Number.parseInt(t, 10)),
    };
  }

  show(conversation) {
    this.prompt.value = conversation?.system_prompt ?? "";
    this.temperature.value = conversation?.temperature ?? "";
    this.maxTokens.value = conversation?.max_tokens ?? "";
    const custom = Boolean(conversation?.system_prompt || conversation?.temperature != null
      || conversation?.max_tokens != null);
    $("settings-toggle").classList.toggle("active", custom);
  }

  /** The settings as fields of a chat completion request. */
  static requestFields(settings) {
    const fields = {};
    if (settings.temperature !== null && settings.temperature !== undefined) {
      fields.temperature = settings.temperature;
    }
    if (settings.max_tokens !== null && settings.max_tokens !== undefined) {
      fields.max_tokens = settings.max_tokens;
    }
    return fields;
  }
}
