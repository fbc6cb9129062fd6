// What the upload widgets share (upload_widget.js for an UploadField, upload_list_widget.js
// for an UploadsField): building elements, sizes for people, and sending one file with
// uploads.js as the widget's data attributes say (API base, CSRF cookie, types).

import { upload } from "./uploads.js";

/**
 * @typedef {object} WidgetType
 * @property {string} type
 * @property {string} label
 * @property {string[]} allowedContentTypes
 * @property {number} maxSize
 * @property {boolean} requireSha256
 */

/** @param {number} bytes */
export function human(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return bytes === 1 ? "1 byte" : `${bytes} bytes`;
}

/**
 * An element; children are nodes or text (never HTML).
 * @param {string} tag
 * @param {Record<string, string>} attrs
 * @param {(Node|string)[]} children
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * The type to ask for: the first whose content types include the file's. With none, the
 * first type anyway, so that the user reads the server's refusal, which names what it takes.
 * @param {WidgetType[]} types
 * @param {File} file
 */
export function typeFor(types, file) {
  return types.find((t) => t.allowedContentTypes.includes(file.type)) ?? types[0];
}

/**
 * Upload ``file`` as the widget ``root`` says (its data-types, data-api-base, data-csrf-cookie).
 * @param {HTMLElement} root
 * @param {File} file
 * @param {AbortSignal} signal
 * @param {(loaded: number, total: number) => void} onProgress
 */
export function uploadFor(root, file, signal, onProgress) {
  /** @type {WidgetType[]} */ const types = JSON.parse(root.dataset.types || "[]");
  const type = typeFor(types, file);
  return upload(file, {
    type: type?.type ?? "",
    apiBase: root.dataset.apiBase || undefined,
    csrfCookieName: root.dataset.csrfCookie || undefined,
    requireSha256: Boolean(type?.requireSha256),
    signal,
    onProgress,
  });
}

/**
 * What a failed upload says: its message and code.
 * @param {unknown} err
 */
export function reason(err) {
  const error = /** @type {any} */ (err);
  const code = error && error.code ? ` (${error.code})` : "";
  return `${error && error.message ? error.message : error}${code}`;
}
