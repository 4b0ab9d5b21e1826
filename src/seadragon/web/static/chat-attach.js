// Images attached to the next message: picked, previewed, sent inline as data: URIs
// (the gateway never fetches remote images), at most four, each within the size limit.
import { h } from "/static/dom.js";

const TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const MAX_IMAGES = 4;
/** The gateway's default max_image_bytes; a larger file is refused here with a clear word. */
const MAX_BYTES = 5 * 1024 * 1024;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(reader.result));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

export class Attachments {
  /** fail(message) shows why a file was refused. */
  constructor(input, tray, fail) {
    this.input = input;
    this.tray = tray;
    this.fail = fail;
    this.images = [];
    input.addEventListener("change", () => this.add(Array.from(input.files ?? [])));
  }

  async add(files) {
    this.input.value = "";
    for (const file of files) {
      if (this.images.length >= MAX_IMAGES) {
        this.fail(`At most ${MAX_IMAGES} images per message.`);
        break;
      }
      if (!TYPES.includes(file.type)) {
        this.fail(`${file.name}: only PNG, JPEG, GIF or WebP images can be attached.`);
        continue;
      }
      if (file.size > MAX_BYTES) {
        this.fail(`${file.name} is larger than ${MAX_BYTES / 1024 / 1024} MB.`);
        continue;
      }
      this.images.push(await readAsDataUrl(file));
    }
    this.render();
  }

  render() {
    this.tray.replaceChildren(...this.images.map((src, i) => {
      const remove = h("button", { class: "icon", type: "button", "aria-label": `Remove image ${i + 1}` }, "×");
      remove.addEventListener("click", () => {
        this.images.splice(i, 1);
        this.render();
      });
      return h("span", { class: "attachment" }, h("img", { src, alt: `attached image ${i + 1}` }), remove);
    }));
    this.tray.hidden = this.images.length === 0;
  }

  /** The images to send with the next message; the tray empties. */
  take() {
    const images = this.images;
    this.images = [];
    this.render();
    return images;
  }

  /** Put images back (the message could not be sent). */
  restore(images) {
    this.images = images;
    this.render();
  }
}
