// The model picker: models some backend serves now, starting on the default model
// (the one the administrator set, else the most used), not the first by name.
import { api } from "/static/api.js";
import { h } from "/static/dom.js";

export class ModelPicker {
  constructor(select) {
    this.select = select;
    this.defaultModel = null;
  }

  get value() {
    return this.select.disabled ? "" : this.select.value;
  }

  /** Show `wanted` if it is served, else the default model. */
  pick(wanted = null) {
    const served = Array.from(this.select.options, (o) => o.value);
    if (wanted && served.includes(wanted)) this.select.value = wanted;
    else if (this.defaultModel && served.includes(this.defaultModel)) {
      this.select.value = this.defaultModel;
    }
  }

  /** Fill the list; returns an error message to show, or "" (throws ApiError on 401). */
  async load() {
    let models;
    try {
      models = (await api("GET", "/v1/models")).data.map((m) => m.id);
      this.defaultModel = (await api("GET", "/api/chat/defaults")).model;
    } catch (error) {
      if (error.status === 401) throw error;
      this.select.replaceChildren(h("option", {}, "Models unavailable"));
      return `Could not load the model list: ${error.message}`;
    }
    if (models.length === 0) {
      this.select.replaceChildren(h("option", {}, "No models available"));
      return "No backend serves a model right now. Ask an administrator to check the backends.";
    }
    this.select.replaceChildren(...models.map((id) => h("option", { value: id }, id)));
    this.pick();
    this.select.disabled = false;
    return "";
  }
}
