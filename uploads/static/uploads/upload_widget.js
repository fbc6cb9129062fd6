// The UploadField widget (uploads/widgets/upload.html): a chosen file goes straight to storage
// through the API with uploads.js, signed in with the page's session, and the hidden input
// takes the upload's signed id (fieldValue, issued to the signed-in user), the only thing the
// form posts.
//
// Every [data-uploads-widget] on the page is set up on load, and those of rows the Django
// admin adds to an inline formset later ("formset:added"). Elsewhere, call initUploadWidgets()
// after adding widgets to the page.

import { el, human, reason, uploadFor } from "./widget_parts.js";

/** @type {WeakSet<HTMLElement>} */
const started = new WeakSet();

/** @param {HTMLElement} root */
function start(root) {
  if (started.has(root) || root.closest(".empty-form")) return; // the admin's row template
  started.add(root);
  /** @type {(role: string) => any} */
  const part = (role) => root.querySelector(`[data-role=${role}]`);
  /** @type {HTMLInputElement} */ const value = part("value");
  /** @type {HTMLInputElement} */ const fileInput = part("file");
  /** @type {HTMLElement} */ const current = part("current");
  /** @type {HTMLProgressElement} */ const progress = part("progress");
  /** @type {HTMLButtonElement} */ const removeButton = part("remove");
  /** @type {HTMLButtonElement} */ const undoButton = part("undo");
  /** @type {HTMLElement} */ const message = part("message");
  const required = root.hasAttribute("data-required");

  /** @type {AbortController|null} */ let inFlight = null;
  /** @type {string|null} */ let previewUrl = null;
  /** What Remove took away, for Undo. @type {{value: string, message: string}|null} */
  let removed = null;

  /** @param {string} text @param {"info"|"error"} [kind] */
  const say = (text, kind = "info") => {
    message.textContent = text;
    root.classList.toggle("uploads-widget--error", kind === "error" && text !== "");
  };

  const fileName = () => current.querySelector("[data-role=link]")?.textContent?.trim() || "";

  const showRemove = () => {
    removeButton.hidden = required || value.value === "";
  };

  /** @param {File} file @param {import("./uploads.js").Upload} done */
  const showUploaded = (file, done) => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    const name = done.fileName || file.name;
    const parts = [];
    if (file.type.startsWith("image/") && done.contentType.startsWith("image/")) {
      previewUrl = URL.createObjectURL(file);
      const alt = `Preview of ${name}`;
      parts.push(el("img", { class: "uploads-widget-preview", "data-role": "preview", src: previewUrl, alt }));
    }
    const link = done.publicUrl
      ? el("a", { href: done.publicUrl, "data-role": "link", target: "_blank", rel: "noopener" }, name)
      : el("span", { "data-role": "link" }, name);
    const size = done.size == null ? "" : `, ${human(done.size)}`;
    const meta = el("span", { class: "uploads-widget-meta", "data-role": "meta" }, `${done.contentType}${size}`);
    current.replaceChildren(...parts, el("span", { class: "uploads-widget-file" }, link, " ", meta));
    current.hidden = false;
  };

  /** @param {File} file */
  async function send(file) {
    inFlight?.abort();
    const controller = (inFlight = new AbortController());
    root.setAttribute("aria-busy", "true");
    progress.hidden = false;
    progress.value = 0;
    say(`Uploading ${file.name}…`);
    try {
      const done = await uploadFor(root, file, controller.signal, (loaded, total) => {
        progress.value = total ? loaded / total : 0;
      });
      value.value = done.fieldValue;
      removed = null;
      undoButton.hidden = true;
      progress.value = 1;
      showUploaded(file, done);
      showRemove();
      say(`${done.fileName || file.name} is uploaded. Save the form to keep it.`);
    } catch (err) {
      if (controller !== inFlight) return; // a newer file replaced this one
      progress.hidden = true;
      say(`${file.name} was not uploaded: ${reason(err)}`, "error");
    } finally {
      if (controller === inFlight) {
        inFlight = null;
        root.removeAttribute("aria-busy");
        fileInput.value = ""; // the same file can be chosen again, and none is ever posted
      }
    }
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) send(file);
  });

  removeButton.addEventListener("click", () => {
    removed = { value: value.value, message: message.textContent || "" };
    const name = fileName();
    value.value = "";
    current.hidden = true;
    progress.hidden = true;
    removeButton.hidden = true;
    undoButton.hidden = false;
    undoButton.focus();
    say(name ? `${name} will be removed when you save.` : "The file will be removed when you save.");
  });

  undoButton.addEventListener("click", () => {
    if (!removed) return;
    value.value = removed.value;
    say(removed.message);
    removed = null;
    current.hidden = false;
    undoButton.hidden = true;
    showRemove();
    (removeButton.hidden ? fileInput : removeButton).focus();
  });

  root.closest("form")?.addEventListener("submit", (event) => {
    if (!inFlight) return;
    event.preventDefault();
    say("Please wait: the file is still uploading. Save once it is done.", "error");
    fileInput.focus();
  });
}

/**
 * Set up the widgets in ``scope`` (the whole page by default) that are not yet.
 * @param {ParentNode} [scope]
 */
export function initUploadWidgets(scope = document) {
  if (scope instanceof HTMLElement && scope.matches("[data-uploads-widget]")) start(scope);
  for (const root of scope.querySelectorAll("[data-uploads-widget]")) start(/** @type {HTMLElement} */ (root));
}

// Modules run once the page is parsed, so the widgets already on it are there.
initUploadWidgets();
document.addEventListener("formset:added", (event) => {
  if (event.target instanceof HTMLElement) initUploadWidgets(event.target);
});
