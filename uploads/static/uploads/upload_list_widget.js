// The UploadsField widget (uploads/widgets/uploads.html): several files at once, chosen in
// the picker or dropped on it, each sent straight to storage through the API with uploads.js
// (as the UploadField widget sends one) with its own progress and Cancel. Each uploaded file
// becomes an item with a hidden input holding its signed id (fieldValue); the form posts the
// items' inputs in their order, which Up and Down change. Remove takes an item out (the
// upload is released when the form is saved). Every control is a button, and the status line
// (aria-live) says what happened.
//
// Every [data-uploads-list-widget] on the page is set up on load, and those of rows the
// Django admin adds to an inline formset later ("formset:added"). Elsewhere, call
// initUploadListWidgets() after adding widgets to the page.

import { el, human, reason, uploadFor } from "./widget_parts.js";

/** @type {WeakSet<HTMLElement>} */
const started = new WeakSet();

/**
 * A button showing ``text`` and naming what it does to which file (``label``).
 * @param {string} text @param {string} label @param {string} role
 */
const button = (text, label, role) =>
  el("button", { type: "button", class: "uploads-widget-button", "data-role": role, "aria-label": label }, text);

/** @param {HTMLElement} root */
function start(root) {
  if (started.has(root) || root.closest(".empty-form")) return; // the admin's row template
  started.add(root);
  /** @type {(role: string) => any} */
  const part = (role) => root.querySelector(`[data-role=${role}]`);
  /** @type {HTMLOListElement} */ const list = part("list");
  /** @type {HTMLInputElement} */ const fileInput = part("file");
  /** @type {HTMLElement} */ const drop = part("drop");
  /** @type {HTMLElement} */ const message = part("message");
  const name = root.dataset.name || "";
  const maxFiles = Number(root.dataset.maxFiles || 0);
  /** Transfers in flight. @type {Set<AbortController>} */
  const inFlight = new Set();

  /** @param {string} text @param {"info"|"error"} [kind] */
  const say = (text, kind = "info") => {
    message.textContent = text;
    root.classList.toggle("uploads-widget--error", kind === "error" && text !== "");
  };

  const items = () => /** @type {HTMLLIElement[]} */ ([...list.children]);
  /** @param {HTMLElement} item */
  const nameOf = (item) => item.querySelector("[data-role=link], [data-role=name]")?.textContent?.trim() || "";

  const busy = () => {
    if (inFlight.size) root.setAttribute("aria-busy", "true");
    else root.removeAttribute("aria-busy");
  };

  /** The actions of an attached item, for an item built here. @param {string} fileName */
  const actions = (fileName) =>
    el(
      "span",
      { class: "uploads-widget-actions" },
      button("Up", `Move ${fileName} up`, "up"),
      " ",
      button("Down", `Move ${fileName} down`, "down"),
      " ",
      button("Remove", `Remove ${fileName}`, "remove"),
    );

  /**
   * Turn a sending item into an attached one.
   * @param {HTMLLIElement} item @param {File} file @param {import("./uploads.js").Upload} done
   */
  const attach = (item, file, done) => {
    const fileName = done.fileName || file.name;
    const parts = [el("input", { type: "hidden", name, value: done.fieldValue || "", "data-role": "value" })];
    if (file.type.startsWith("image/") && done.contentType.startsWith("image/")) {
      const src = URL.createObjectURL(file);
      const img = el("img", { class: "uploads-widget-preview", "data-role": "preview", src, alt: `Preview of ${fileName}` });
      img.addEventListener("load", () => URL.revokeObjectURL(src), { once: true });
      parts.push(img);
    }
    const link = done.publicUrl
      ? el("a", { href: done.publicUrl, "data-role": "link", target: "_blank", rel: "noopener" }, fileName)
      : el("span", { "data-role": "link" }, fileName);
    const size = done.size == null ? "" : `, ${human(done.size)}`;
    const meta = el("span", { class: "uploads-widget-meta", "data-role": "meta" }, `${done.contentType}${size}`);
    parts.push(el("span", { class: "uploads-widget-file" }, link, " ", meta), actions(fileName));
    item.dataset.role = "item";
    item.replaceChildren(...parts);
  };

  /** Where focus goes once ``item`` leaves the list. @param {HTMLLIElement} item */
  const focusAfter = (item) => {
    const next = item.nextElementSibling || item.previousElementSibling;
    const target = next?.querySelector("[data-role=remove], [data-role=cancel]");
    (/** @type {HTMLElement|null} */ (target) || fileInput).focus();
  };

  /** @param {File} file */
  async function send(file) {
    const controller = new AbortController();
    const percent = el("span", { class: "uploads-widget-meta", "data-role": "percent" }, "0%");
    const progress = el("progress", { class: "uploads-widget-progress", max: "100", value: "0", "aria-label": `Upload progress of ${file.name}` });
    const cancel = button("Cancel", `Cancel ${file.name}`, "cancel");
    const item = /** @type {HTMLLIElement} */ (
      el("li", { class: "uploads-widget-item", "data-role": "sending" },
        el("span", { class: "uploads-widget-file" }, el("span", { "data-role": "name" }, file.name), " ", percent),
        progress,
        el("span", { class: "uploads-widget-actions" }, cancel))
    );
    list.append(item);
    cancel.addEventListener("click", () => {
      controller.abort();
      focusAfter(item);
      item.remove();
      say(`${file.name} was cancelled: it is not attached.`);
    });
    inFlight.add(controller);
    busy();
    try {
      const done = await uploadFor(root, file, controller.signal, (loaded, total) => {
        const value = total ? Math.floor((loaded / total) * 100) : 0;
        progress.value = value;
        percent.textContent = `${value}%`;
      });
      if (controller.signal.aborted) return;
      const focused = item.contains(document.activeElement);
      attach(item, file, done);
      if (focused) /** @type {HTMLElement} */ (item.querySelector("[data-role=remove]")).focus();
      say(`${done.fileName || file.name} is uploaded. Save the form to keep it.`);
    } catch (err) {
      if (controller.signal.aborted) return; // cancelled: the item is gone already
      if (item.contains(document.activeElement)) focusAfter(item);
      item.remove();
      say(`${file.name} was not uploaded: ${reason(err)}`, "error");
    } finally {
      inFlight.delete(controller);
      busy();
    }
  }

  /** @param {FileList|File[]} files */
  const take = (files) => {
    let chosen = [...files];
    const room = maxFiles ? maxFiles - items().length : chosen.length;
    if (chosen.length > room) {
      const left = chosen.slice(Math.max(room, 0)).map((f) => f.name);
      chosen = chosen.slice(0, Math.max(room, 0));
      say(`At most ${maxFiles} files fit here: ${left.join(", ")} not added.`, "error");
    } else {
      say(chosen.length === 1 ? `Uploading ${chosen[0].name}…` : `Uploading ${chosen.length} files…`);
    }
    for (const file of chosen) send(file);
  };

  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files.length) take(fileInput.files);
    fileInput.value = ""; // the same files can be chosen again, and none is ever posted
  });

  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("uploads-widget-drop--over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("uploads-widget-drop--over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("uploads-widget-drop--over");
    const files = event.dataTransfer?.files;
    if (files && files.length) take(files);
  });

  list.addEventListener("click", (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const control = target.closest("button[data-role]");
    const item = /** @type {HTMLLIElement|null} */ (control?.closest("li"));
    if (!control || !item || item.dataset.role !== "item") return;
    const role = /** @type {HTMLElement} */ (control).dataset.role;
    const fileName = nameOf(item);
    if (role === "remove") {
      focusAfter(item);
      item.remove();
      say(`${fileName} will be removed when you save.`);
      return;
    }
    const sibling = role === "up" ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    if (role === "up") sibling.before(item);
    else sibling.after(item);
    /** @type {HTMLElement} */ (control).focus();
    say(`${fileName} moved to position ${items().indexOf(item) + 1} of ${items().length}.`);
  });

  root.closest("form")?.addEventListener("submit", (event) => {
    if (!inFlight.size) return;
    event.preventDefault();
    say("Please wait: files are still uploading. Save once they are done.", "error");
    fileInput.focus();
  });
}

/**
 * Set up the widgets in ``scope`` (the whole page by default) that are not yet.
 * @param {ParentNode} [scope]
 */
export function initUploadListWidgets(scope = document) {
  if (scope instanceof HTMLElement && scope.matches("[data-uploads-list-widget]")) start(scope);
  for (const root of scope.querySelectorAll("[data-uploads-list-widget]")) start(/** @type {HTMLElement} */ (root));
}

// Modules run once the page is parsed, so the widgets already on it are there.
initUploadListWidgets();
document.addEventListener("formset:added", (event) => {
  if (event.target instanceof HTMLElement) initUploadListWidgets(event.target);
});
