// Direct-to-storage uploads from a browser, for the django-upload-policies HTTP API (v1).
// A dependency-free ES module: no build step, import it from where Django serves it:
//
//   import { upload, UploadError } from "/static/uploads/uploads.js";
//   const done = await upload(file, { type: "avatar", token, onProgress: (sent, total) => {} });
//
// Without a token, a page of the same site signed in with a Django session calls the API with
// its session cookie, and sends Django's CSRF token on POST and DELETE (see UploadOptions).
//
// Three steps: presign (the server checks the type, content type and size and answers with a
// short-lived signed request), send the bytes straight to storage with exactly that request,
// then complete (the server verifies the stored object itself).

/** Hash the file in the browser up to this size (the whole file is read into memory). */
export const HASH_LIMIT = 50 * 1024 * 1024;

/** Methods Django's CSRF protection leaves alone. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Headers a page may not set: the browser sets them itself (and throws or ignores otherwise). */
const BROWSER_OWNED_HEADERS = new Set(["content-length", "host", "connection", "expect"]);

/**
 * One upload as the API describes it.
 * @typedef {object} Upload
 * @property {string} id
 * @property {string} type
 * @property {"pending"|"verifying"|"completed"|"rejected"|"expired"|"deleted"} status
 *   "verifying": complete accepted the file and checks it in the background
 * @property {string} key
 * @property {string} contentType
 * @property {number|null} size
 * @property {string|null} sha256 base64 of the SHA-256 digest
 * @property {string} fileName
 * @property {string|null} publicUrl null for a private type (use the download endpoint)
 * @property {string|null} completedAt
 * @property {boolean} [deduplicated] true when an identical completed upload was reused
 * @property {string|null} fieldValue what an UploadField's form input takes: the upload's id,
 *   signed, issued to the caller and taken back only from them for a day (FIELD_VALUE_MAX_AGE);
 *   null for a credential without the uploads:write scope
 */

/**
 * The presign answer: an Upload plus the signed request to send, or for a large file the
 * part plan (``multipart``) and no URL: each part's URL is asked for separately.
 * @typedef {Upload & {uploadUrl?: string, method?: string, headers?: Record<string, string>,
 *   fields?: Record<string, string>, expiresIn: number, maxSize: number,
 *   multipart?: {partSize: number, partCount: number}}} PresignAnswer
 */

/**
 * An active upload type, as listed by GET {apiBase}/uploads/types.
 * @typedef {object} UploadType
 * @property {string} type
 * @property {string} label
 * @property {string[]} allowedContentTypes
 * @property {number} maxSize
 * @property {number} expiresIn
 * @property {string} method
 * @property {boolean} public
 * @property {boolean} requireSize
 * @property {boolean} requireSha256
 */

/**
 * @typedef {object} UploadOptions
 * @property {string} type the upload type's name, e.g. "avatar"
 * @property {string} [apiBase="/api/v1"] where the API is mounted
 * @property {string} [token] a JWT access token or an API key, sent as Authorization: Bearer.
 *   Without one the page's session cookie authenticates, and POST and DELETE carry Django's
 *   CSRF token in X-CSRFToken (see csrfToken)
 * @property {string} [csrfToken] the CSRF token for session requests; by default the page's
 *   <input name="csrfmiddlewaretoken"> ({% csrf_token %}), else the CSRF cookie
 * @property {string} [csrfCookieName="csrftoken"] the CSRF cookie's name (settings.CSRF_COOKIE_NAME)
 * @property {(loaded: number, total: number) => void} [onProgress] called as bytes are sent
 * @property {string} [fileName] for display only; defaults to file.name
 * @property {boolean} [requireSha256=false] hash even above HASH_LIMIT (the type requires it)
 * @property {AbortSignal} [signal] aborts the request in flight (code "upload.aborted"). For a
 *   file sent in parts this is a pause: upload() again with the same file, even after a page
 *   reload, sends only the parts the storage does not hold yet
 * @property {boolean} [multipart] ask for parts whatever the type's threshold (the server
 *   decides otherwise: above the threshold, a file goes in parts)
 * @property {number} [concurrency=4] parts sent at once
 * @property {boolean} [resume=true] resume an unfinished upload of the same file (kept in
 *   localStorage by type, name, size and modification time)
 */

/**
 * Any failure: the API's error envelope (code, message, details...) or a client-side one:
 * "network.error" (the server or storage could not be reached, e.g. blocked by CORS),
 * "upload.transfer_failed" (the storage refused the bytes without an envelope),
 * "upload.aborted" (the signal fired).
 */
export class UploadError extends Error {
  /**
   * @param {string} message
   * @param {object} info
   * @param {string} info.code
   * @param {number} info.status the HTTP status, 0 when there was no answer
   * @param {any[]} [info.details]
   * @param {string} [info.i18nKey]
   * @param {Record<string, any>} [info.i18nVars]
   * @param {string|null} [info.correlationId] the request id, for the server's logs
   */
  constructor(message, { code, status, details = [], i18nKey, i18nVars = {}, correlationId = null }) {
    super(message);
    this.name = "UploadError";
    /** @type {string} */ this.code = code;
    /** @type {number} */ this.status = status;
    /** @type {any[]} */ this.details = details;
    /** @type {string} */ this.i18nKey = i18nKey || `error.${code}`;
    /** @type {Record<string, any>} */ this.i18nVars = i18nVars;
    /** @type {string|null} */ this.correlationId = correlationId;
  }

  /**
   * From a parsed error envelope, or a generic error when the body was not one.
   * @param {any} body
   * @param {number} status
   * @param {string} fallbackCode
   * @param {string} [text] the raw body, kept in details when it was not an envelope
   * @returns {UploadError}
   */
  static from(body, status, fallbackCode, text) {
    const error = body && body.success === false && body.error;
    if (error && typeof error.code === "string") {
      return new UploadError(error.message || error.code, {
        code: error.code,
        status,
        details: error.details,
        i18nKey: error.i18nKey,
        i18nVars: error.i18nVars,
        correlationId: error.correlationId,
      });
    }
    return new UploadError(`Unexpected answer (HTTP ${status}).`, {
      code: fallbackCode,
      status,
      details: text ? [text.slice(0, 1000)] : [],
    });
  }
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The CSRF token a session request sends: the one given, the page's form input, or the cookie.
 * @param {{csrfToken?: string, csrfCookieName?: string}} options
 * @returns {string|null}
 */
export function sessionCsrfToken({ csrfToken, csrfCookieName = "csrftoken" } = {}) {
  if (csrfToken) return csrfToken;
  const doc = globalThis.document;
  if (!doc) return null;
  /** @type {HTMLInputElement|null} */
  const input = doc.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  for (const pair of doc.cookie ? doc.cookie.split(";") : []) {
    const [name, ...value] = pair.trim().split("=");
    if (name === csrfCookieName) return decodeURIComponent(value.join("="));
  }
  return null;
}

/**
 * How the API knows the caller: a bearer token, else the session cookie (with the CSRF token
 * that an unsafe method needs).
 * @typedef {{token?: string, csrfToken?: string, csrfCookieName?: string}} Credentials
 */

/**
 * Call the API and unwrap the success envelope.
 * @param {string} url
 * @param {Credentials & {method?: string, body?: object, signal?: AbortSignal}} options
 * @returns {Promise<{status: number, data: any}>}
 */
export async function api(url, { method = "GET", token, csrfToken: csrf, csrfCookieName, body, signal }) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  } else if (!SAFE_METHODS.has(method.toUpperCase())) {
    const found = sessionCsrfToken({ csrfToken: csrf, csrfCookieName });
    if (found) headers["X-CSRFToken"] = found;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (err) {
    throw aborted(signal) ?? new UploadError(`Could not reach ${url}: ${err}`, { code: "network.error", status: 0 });
  }
  const text = await response.text();
  const envelope = parseJson(text);
  if (!response.ok || !envelope || envelope.success !== true) {
    throw UploadError.from(envelope, response.status, "server.error", text);
  }
  return { status: response.status, data: envelope.data };
}

/** @param {AbortSignal|undefined} signal */
function aborted(signal) {
  return signal && signal.aborted
    ? new UploadError("The upload was aborted.", { code: "upload.aborted", status: 0 })
    : null;
}

/**
 * base64 of the SHA-256 digest of the file's bytes.
 * @param {Blob} file
 * @returns {Promise<string>}
 */
export async function sha256Base64(file) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) {
    throw new UploadError(
      "crypto.subtle is only available on HTTPS pages (or localhost): cannot hash the file.",
      { code: "client.insecure_context", status: 0 },
    );
  }
  const digest = new Uint8Array(await subtle.digest("SHA-256", await file.arrayBuffer()));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Send the bytes exactly as signed: its method to its URL with its headers, or for a POST
 * policy a form with its fields then the file. XMLHttpRequest, for upload progress.
 * @param {PresignAnswer} answer
 * @param {Blob} file
 * @param {UploadOptions["onProgress"]} onProgress
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sendToStorage(answer, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const method = (answer.method || "PUT").toUpperCase();
    const xhr = new XMLHttpRequest();
    xhr.open(method, /** @type {string} */ (answer.uploadUrl));
    /** @type {Blob|FormData} */
    let body = file;
    if (method === "POST") {
      const form = new FormData();
      for (const [name, value] of Object.entries(answer.fields || {})) form.append(name, value);
      form.append("file", file);
      body = form;
    }
    for (const [name, value] of Object.entries(answer.headers || {})) {
      const lower = name.toLowerCase();
      if (BROWSER_OWNED_HEADERS.has(lower)) continue;
      // A form carries its own multipart Content-Type (with the boundary).
      if (method === "POST" && lower === "content-type") continue;
      xhr.setRequestHeader(name, value);
    }
    if (onProgress) {
      xhr.upload.onprogress = (event) => {
        onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
      };
    }
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => signal?.removeEventListener("abort", onAbort);
    xhr.onload = () => {
      settle();
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(file.size, file.size);
        resolve();
      } else {
        reject(UploadError.from(parseJson(xhr.responseText), xhr.status, "upload.transfer_failed", xhr.responseText));
      }
    };
    xhr.onerror = () => {
      settle();
      reject(
        new UploadError(
          "The storage could not be reached. For a cloud storage, allow this page's origin " +
            "in the bucket's CORS rules (manage.py uploads_cors --origin ...).",
          { code: "network.error", status: 0 },
        ),
      );
    };
    xhr.onabort = () => {
      settle();
      reject(aborted(signal) ?? new UploadError("The upload was aborted.", { code: "upload.aborted", status: 0 }));
    };
    if (signal?.aborted) {
      xhr.abort();
      return;
    }
    xhr.send(body);
  });
}

/**
 * Upload one file: presign, send the bytes straight to storage, complete.
 *
 * @param {File|Blob} file
 * @param {UploadOptions} options
 * @returns {Promise<Upload>} the completed upload (with deduplicated: true when the server
 *   already had the same file of this type from this user, in which case nothing was sent).
 *   A large file is checked in the background (complete answers 202, "verifying"): the
 *   promise settles once the server has settled it, completed or rejected
 * @throws {UploadError}
 */
export async function upload(
  file,
  {
    type,
    apiBase = "/api/v1",
    token,
    csrfToken,
    csrfCookieName,
    onProgress,
    fileName,
    requireSha256 = false,
    signal,
    multipart,
    concurrency = PART_CONCURRENCY,
    resume = true,
  },
) {
  const base = apiBase.replace(/\/+$/, "");
  const credentials = { token, csrfToken, csrfCookieName };
  const memo = resume ? resumeKey(type, file) : null;
  const unfinished = memo ? await stillPending(base, credentials, recall(memo), signal) : null;
  if (unfinished?.verifying) {
    // Completed before a reload: only the server's check is left to wait for.
    forget(memo);
    return verified(`${base}/uploads/${encodeURIComponent(unfinished.id)}`, credentials, signal);
  }
  if (unfinished) {
    return finishParts(base, credentials, unfinished, file, { onProgress, signal, concurrency, memo });
  }
  /** @type {Record<string, any>} */
  const request = {
    type,
    contentType: file.type,
    size: file.size,
    fileName: fileName ?? /** @type {File} */ (file).name ?? "",
  };
  // Hashing is optional unless the type requires it: skip it where the page cannot hash
  // (crypto.subtle exists only on HTTPS pages and localhost); complete still verifies.
  const canHash = Boolean(globalThis.crypto && globalThis.crypto.subtle);
  if (requireSha256 || (canHash && file.size <= HASH_LIMIT)) {
    request.sha256 = await sha256Base64(file);
  }
  if (multipart !== undefined) request.multipart = multipart;
  const presigned = await api(`${base}/uploads/presign`, {
    method: "POST",
    ...credentials,
    body: request,
    signal,
  });
  /** @type {PresignAnswer} */
  const answer = presigned.data;
  if (presigned.status === 200 && answer.deduplicated) {
    if (onProgress) onProgress(file.size, file.size);
    return answer;
  }
  if (answer.multipart) {
    const plan = { id: answer.id, ...answer.multipart, expiresAt: answer.expiresAt };
    if (memo) remember(memo, plan);
    return finishParts(base, credentials, plan, file, { onProgress, signal, concurrency, memo });
  }
  await sendToStorage(answer, file, onProgress, signal);
  const path = `${base}/uploads/${encodeURIComponent(answer.id)}`;
  const completed = await api(`${path}/complete`, { method: "POST", ...credentials, signal });
  return completed.status === 202 ? verified(path, credentials, signal) : completed.data;
}

/** First wait, and longest, between two looks at an upload being verified (ms). */
const VERIFY_POLL_FIRST = 500;
const VERIFY_POLL_MAX = 10000;

/**
 * Wait for the server's background check of an upload (complete answered 202, "verifying"):
 * look at it with a growing pause until it is completed (returned) or rejected (thrown, as
 * complete throws it). The signal stops the waiting, not the check.
 * @param {string} path the upload's API address @param {Credentials} credentials
 * @param {AbortSignal} [signal]
 * @returns {Promise<Upload>}
 */
export async function verified(path, credentials, signal) {
  for (let wait = VERIFY_POLL_FIRST; ; wait = Math.min(wait * 2, VERIFY_POLL_MAX)) {
    await pause(wait, signal);
    const { data } = await api(path, { ...credentials, signal });
    if (data.status === "verifying") continue;
    if (data.status === "completed") return data;
    if (data.status === "rejected") {
      throw new UploadError(data.rejectionReason || "The file was rejected.", {
        code: "upload.verification_failed",
        status: 422,
        i18nKey: "error.upload.verification_failed",
      });
    }
    throw new UploadError(`The upload is ${data.status}.`, {
      code: "upload.invalid_state",
      status: 409,
      i18nKey: "error.upload.invalid_state",
      i18nVars: { status: data.status },
    });
  }
}

// --- files in parts ---------------------------------------------------------------------

/** Parts sent at once, by default. */
export const PART_CONCURRENCY = 4;
/** Tries of one part before the upload fails (a pause or reload can resume it later). */
const PART_TRIES = 6;
/** Part URLs asked for in one request. */
const URL_BATCH = 10;

/**
 * A multipart upload in progress, as kept for resuming.
 * @typedef {{id: string, partSize: number, partCount: number, expiresAt: string}} PartPlan
 */

/** @param {string} type @param {Blob} file */
function resumeKey(type, file) {
  const f = /** @type {File} */ (file);
  return `uploads.resume:${type}:${f.name ?? ""}:${file.size}:${f.lastModified ?? ""}:${file.type}`;
}

/** @param {string} key @param {PartPlan} plan */
function remember(key, plan) {
  try {
    globalThis.localStorage?.setItem(key, JSON.stringify(plan));
  } catch {
    // Private browsing or a full store: the upload works, it only cannot resume.
  }
}

/** @param {string} key @returns {PartPlan|null} */
function recall(key) {
  try {
    return JSON.parse(globalThis.localStorage?.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

/** @param {string|null} key */
function forget(key) {
  try {
    if (key) globalThis.localStorage?.removeItem(key);
  } catch {
    // as in remember()
  }
}

/**
 * The remembered upload if the server still takes its parts.
 * @param {string} base @param {Credentials} credentials @param {PartPlan|null} plan
 * @param {AbortSignal} [signal]
 * @returns {Promise<(PartPlan & {verifying?: boolean})|null>}
 */
async function stillPending(base, credentials, plan, signal) {
  if (!plan || !(Date.parse(plan.expiresAt) > Date.now())) return null;
  try {
    await api(`${base}/uploads/${encodeURIComponent(plan.id)}/parts`, { ...credentials, signal });
    return plan;
  } catch (err) {
    const { code, i18nVars } = /** @type {UploadError} */ (err);
    if (code === "upload.aborted") throw err;
    if (code === "upload.invalid_state" && i18nVars.status === "verifying") {
      return { ...plan, verifying: true };
    }
    return null; // gone, completed or refused: start afresh
  }
}

/** @param {number} ms @param {AbortSignal} [signal] */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new UploadError("The upload was aborted.", { code: "upload.aborted", status: 0 }));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new UploadError("The upload was aborted.", { code: "upload.aborted", status: 0 }));
    }, { once: true });
  });
}

/** Whether sending a part again may work: no answer, a server error, or an expired URL. */
function worthRetrying(/** @type {any} */ err) {
  return err.code === "network.error" || err.status >= 500 || [403, 408, 429].includes(err.status);
}

/**
 * Send the parts the storage does not hold yet, a few at once, each retried with backoff
 * (with a fresh URL), then complete. Progress counts the parts already stored.
 * @param {string} base @param {Credentials} credentials @param {PartPlan} plan @param {Blob} file
 * @param {{onProgress?: UploadOptions["onProgress"], signal?: AbortSignal, concurrency: number,
 *   memo: string|null}} options
 * @returns {Promise<Upload>}
 */
async function finishParts(base, credentials, plan, file, { onProgress, signal, concurrency, memo }) {
  const path = `${base}/uploads/${encodeURIComponent(plan.id)}`;
  for (let round = 0; ; round++) {
    await sendMissingParts(path, credentials, plan, file, { onProgress, signal, concurrency });
    try {
      const completed = await api(`${path}/complete`, { method: "POST", ...credentials, signal });
      forget(memo);
      return completed.status === 202 ? verified(path, credentials, signal) : completed.data;
    } catch (err) {
      // Parts the storage lost or never kept: send them once more.
      if (/** @type {UploadError} */ (err).code === "upload.parts_missing" && round === 0) continue;
      if (/** @type {UploadError} */ (err).code !== "upload.aborted") forget(memo);
      throw err;
    }
  }
}

/**
 * @param {string} path @param {Credentials} credentials @param {PartPlan} plan @param {Blob} file
 * @param {{onProgress?: UploadOptions["onProgress"], signal?: AbortSignal, concurrency: number}} options
 */
async function sendMissingParts(path, credentials, plan, file, { onProgress, signal, concurrency }) {
  const { partSize, partCount } = plan;
  const sizeOf = (/** @type {number} */ n) => (n < partCount ? partSize : file.size - partSize * (partCount - 1));
  const { data } = await api(`${path}/parts`, { ...credentials, signal });
  const stored = new Map(data.parts.map((/** @type {any} */ p) => [p.partNumber, p.size]));
  const todo = [];
  let sent = 0;
  for (let n = 1; n <= partCount; n++) {
    if (stored.get(n) === sizeOf(n)) sent += sizeOf(n);
    else todo.push(n);
  }
  /** @type {Map<number, number>} */
  const inFlight = new Map();
  const report = () => {
    let loaded = sent;
    for (const bytes of inFlight.values()) loaded += bytes;
    onProgress?.(loaded, file.size);
  };
  report();
  // One failure stops the other parts; the caller's signal stops them all.
  const stop = new AbortController();
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  /** @type {Map<number, {url: string, method: string, headers: Record<string, string>, until: number}>} */
  const urls = new Map();
  const urlFor = async (/** @type {number} */ n) => {
    const known = urls.get(n);
    if (known && known.until > Date.now()) return known;
    const batch = todo.filter((m) => m >= n && !urls.has(m)).slice(0, URL_BATCH);
    if (!batch.includes(n)) batch.unshift(n);
    const answer = await api(`${path}/parts`, {
      method: "POST", ...credentials, body: { partNumbers: batch }, signal: stop.signal,
    });
    const until = Date.now() + (answer.data.expiresIn - 10) * 1000;
    for (const part of answer.data.parts) urls.set(part.partNumber, { ...part, until });
    return /** @type {any} */ (urls.get(n));
  };
  const sendPart = async (/** @type {number} */ n) => {
    const slice = file.slice((n - 1) * partSize, (n - 1) * partSize + sizeOf(n));
    for (let attempt = 1; ; attempt++) {
      try {
        const part = await urlFor(n);
        const target = { uploadUrl: part.url, method: part.method, headers: part.headers };
        await sendToStorage(/** @type {any} */ (target), slice, (loaded) => {
          inFlight.set(n, Math.min(loaded, slice.size));
          report();
        }, stop.signal);
        inFlight.delete(n);
        sent += slice.size;
        report();
        return;
      } catch (err) {
        inFlight.delete(n);
        if (stop.signal.aborted || !worthRetrying(err) || attempt >= PART_TRIES) throw err;
        urls.delete(n);
        await pause(Math.min(500 * 2 ** (attempt - 1), 15000) * (0.5 + Math.random()), stop.signal);
      }
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) await sendPart(todo[next++]);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), todo.length) }, worker));
  } catch (err) {
    stop.abort();
    throw aborted(signal) ?? err;
  }
}

/**
 * The active upload types the token (or the signed-in session) may use.
 * @param {{apiBase?: string, token?: string, signal?: AbortSignal}} [options]
 * @returns {Promise<UploadType[]>}
 */
export async function uploadTypes({ apiBase = "/api/v1", token, signal } = {}) {
  const { data } = await api(`${apiBase.replace(/\/+$/, "")}/uploads/types`, { token, signal });
  return data;
}
