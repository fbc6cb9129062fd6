// Uppy's AwsS3 plugin (@uppy/aws-s3 4.x and 5.x, in the `uppy` bundle up to 5.x) uploading
// through the django-upload-policies API, on every storage the API signs for: S3 (PUT or a
// POST policy), Azure Blob Storage, Google Cloud Storage and the local signer.
//
//   import { Uppy, Dashboard, AwsS3 } from "uppy";
//   import { awsS3Options } from "/static/uploads/uppy.js";
//   new Uppy().use(Dashboard, { inline: true, target: "#uppy" })
//     .use(AwsS3, await awsS3Options({ type: "media", token }));
//
// The server decides everything Uppy would otherwise decide: the key, single or in parts, the
// part size, the signed request of each part. Each file is completed through the API and,
// for a large one, waited for until the server's background check settles it; a rejection
// becomes the file's error in the Dashboard. Pause and resume ask the server which parts the
// storage holds (GET /uploads/{id}/parts), never the client's memory.

import {
  HASH_LIMIT,
  UploadError,
  api,
  sendToStorage,
  sha256Base64,
  uploadTypes,
  verified,
} from "./uploads.js";

/** Uppy never cuts parts smaller than this (S3's minimum part size). */
export const UPPY_MIN_PART_SIZE = 5 * 1024 * 1024;
/** Part URLs asked for in one request. */
const URL_BATCH = 10;
/**
 * What Uppy gets as a part's ETag. The adapter does not read the storage's ETag (Azure's Put
 * Block has none, and a bucket's CORS rules need not expose it): complete believes only the
 * storage's own list of parts.
 */
const NO_ETAG = "not-read";

/**
 * @typedef {object} AwsS3AdapterOptions
 * @property {string | ((file: any) => string)} type the upload type's name, or a function of
 *   the Uppy file that names it (e.g. by file.type)
 * @property {string} [apiBase="/api/v1"] where the API is mounted
 * @property {string} [token] a JWT access token or an API key (Authorization: Bearer). Without
 *   one the page's session cookie authenticates and POST and DELETE carry Django's CSRF token
 * @property {string} [csrfToken] the CSRF token for session requests; by default the page's
 *   {% csrf_token %} input, else the CSRF cookie
 * @property {string} [csrfCookieName="csrftoken"]
 * @property {number} [limit=6] Uppy's limit of requests at once
 * @property {number[]|null} [retryDelays] Uppy's pauses before retrying a failed part (ms);
 *   Uppy's default [0, 1000, 3000, 5000]
 * @property {AbortSignal} [signal] stops loading the types
 */

/**
 * The options of Uppy's AwsS3 plugin for this API. Loads the active upload types once
 * (GET {apiBase}/uploads/types): Uppy chooses single or multipart and cuts the parts before
 * asking the server anything, so it needs each type's threshold and part size up front.
 *
 * @param {AwsS3AdapterOptions} options
 * @returns {Promise<Record<string, any>>} pass to uppy.use(AwsS3, ...)
 * @throws {UploadError} when the types cannot be loaded (e.g. auth.unauthorized)
 */
export async function awsS3Options({
  type,
  apiBase = "/api/v1",
  token,
  csrfToken,
  csrfCookieName,
  limit,
  retryDelays,
  signal,
}) {
  const base = apiBase.replace(/\/+$/, "");
  const credentials = { token, csrfToken, csrfCookieName };
  const types = new Map((await uploadTypes({ apiBase: base, token, signal })).map((t) => [t.type, t]));
  const typeOf = (/** @type {any} */ file) => (typeof type === "function" ? type(file) : type);
  const path = (/** @type {string} */ id) => `${base}/uploads/${encodeURIComponent(id)}`;
  const call = (/** @type {string} */ url, /** @type {any} */ init = {}) =>
    api(url, { ...credentials, ...init });

  /** The part size Uppy cuts a file's data with, by the data (getChunkSize gets no file). */
  const chunkSizes = new WeakMap();
  /** Single uploads on their way, by the URL Uppy was given. */
  const singles = new Map();
  /** Multipart uploads by id: {partCount, deduplicated?, urls: Map(partNumber -> part)}. */
  const plans = new Map();
  /** Uploads the server has settled (completed or rejected): nothing left to abort. */
  const settled = new Set();
  /** URLs given to Uppy for a file (or part) the server already has: nothing to send. */
  const nothingToSend = new Set();
  const alreadyThere = (/** @type {string} */ id, /** @type {string} */ what) => {
    const url = `${new URL(path(id), location.href)}#${what}`;
    nothingToSend.add(url);
    return url;
  };

  const presign = async (/** @type {any} */ file, /** @type {boolean} */ multipart, /** @type {AbortSignal} */ sig) => {
    const rule = types.get(typeOf(file));
    /** @type {Record<string, any>} */
    const body = {
      type: typeOf(file),
      contentType: file.type || "",
      size: file.size,
      fileName: file.name ?? "",
    };
    const canHash = Boolean(globalThis.crypto && globalThis.crypto.subtle);
    if (rule?.requireSha256 || (canHash && !multipart && file.size <= HASH_LIMIT)) {
      body.sha256 = await sha256Base64(file.data);
    }
    if (multipart) body.multipart = true;
    const { status, data } = await call(`${base}/uploads/presign`, { method: "POST", body, signal: sig });
    return status === 200 && data.deduplicated ? { ...data, deduplicated: true } : data;
  };

  /** Delete a pending upload that will not be finished (best effort: cleanup expires it). */
  const discard = async (/** @type {string} */ id) => {
    if (settled.has(id)) return;
    try {
      await call(path(id), { method: "DELETE" });
    } catch {
      // The server's cleanup removes it once it expires.
    }
  };

  /** Complete, then wait for the background check of a large file. */
  const complete = async (/** @type {string} */ id, /** @type {AbortSignal} */ sig) => {
    try {
      const { status, data } = await call(`${path(id)}/complete`, { method: "POST", signal: sig });
      const done = status === 202 ? await verified(path(id), credentials, sig) : data;
      settled.add(id);
      return done;
    } catch (err) {
      const code = /** @type {UploadError} */ (err).code;
      if (code === "upload.verification_failed") settled.add(id);
      throw err;
    }
  };

  /**
   * Part ``number``'s signed request. One request to the API signs it and the next few parts
   * (parts Uppy starts together share it); each is used once, so a retried part is signed
   * afresh, and one about to expire is signed again.
   */
  const partUrl = async (/** @type {string} */ id, /** @type {number} */ number) => {
    const plan = plans.get(id) ?? { urls: new Map(), partCount: number };
    plans.set(id, plan);
    if (!plan.urls.has(number)) {
      const numbers = [];
      const last = Math.max(plan.partCount, number);
      for (let n = number; n <= last && numbers.length < URL_BATCH; n++) {
        if (n === number || !plan.urls.has(n)) numbers.push(n);
      }
      // Not the caller's signal: the other parts of the batch wait for it too.
      const batch = call(`${path(id)}/parts`, { method: "POST", body: { partNumbers: numbers } })
        .then(({ data }) => {
          const until = Date.now() + Math.max(data.expiresIn - 10, data.expiresIn / 2) * 1000;
          return new Map(data.parts.map((/** @type {any} */ p) => [p.partNumber, { ...p, until }]));
        });
      for (const n of numbers) {
        const part = batch.then((parts) => parts.get(n));
        part.catch(() => plan.urls.get(n) === part && plan.urls.delete(n));
        plan.urls.set(n, part);
      }
    }
    const pending = plan.urls.get(number);
    plan.urls.delete(number);
    const part = await pending;
    return part.until > Date.now() ? part : partUrl(id, number);
  };

  return withUppyErrors({
    limit,
    ...(retryDelays !== undefined ? { retryDelays } : {}),

    // The server's rule: over the type's threshold a file goes in parts (a file of 5 MB or
    // less in one part: Uppy cuts no smaller).
    shouldUseMultipart(/** @type {any} */ file) {
      const rule = types.get(typeOf(file));
      const threshold = rule?.multipartThreshold;
      const inParts = threshold != null && file.size > threshold;
      if (inParts && file.data) chunkSizes.set(file.data, rule.partSize);
      return inParts;
    },

    getChunkSize(/** @type {Blob} */ data) {
      return chunkSizes.get(data) ?? UPPY_MIN_PART_SIZE;
    },

    async getUploadParameters(/** @type {any} */ file, /** @type {{signal: AbortSignal}} */ { signal: sig }) {
      const answer = await presign(file, false, sig);
      if (answer.deduplicated) {
        // Nothing to send: the server has this very file of this user already.
        settled.add(answer.id);
        const url = alreadyThere(answer.id, "deduplicated");
        singles.set(url, { answer, file, done: answer });
        return { method: "PUT", url, headers: {} };
      }
      if (answer.multipart) {
        // The type's threshold changed since its rules were loaded.
        await discard(answer.id);
        throw mismatch(answer, file.size);
      }
      singles.set(answer.uploadUrl, { answer, file });
      return {
        method: answer.method,
        url: answer.uploadUrl,
        fields: answer.fields ?? {},
        headers: answer.headers ?? {},
      };
    },

    async createMultipartUpload(/** @type {any} */ file, /** @type {AbortSignal} */ sig) {
      const answer = await presign(file, true, sig);
      if (answer.deduplicated) {
        settled.add(answer.id);
        plans.set(answer.id, { urls: new Map(), partCount: 0, deduplicated: answer });
        return { uploadId: answer.id, key: answer.key };
      }
      const chunk = Math.max(chunkSizes.get(file.data) ?? 0, UPPY_MIN_PART_SIZE);
      const { partSize, partCount } = answer.multipart ?? {};
      if (partSize !== chunk || partCount !== Math.ceil(file.size / chunk)) {
        await discard(answer.id);
        throw mismatch(answer, chunk);
      }
      plans.set(answer.id, { urls: new Map(), partCount });
      return { uploadId: answer.id, key: answer.key };
    },

    async signPart(/** @type {any} */ file, /** @type {any} */ { uploadId, partNumber }) {
      const plan = plans.get(uploadId);
      if (plan?.deduplicated) {
        return { method: "PUT", url: alreadyThere(uploadId, `part-${partNumber}`), headers: {} };
      }
      const part = await partUrl(uploadId, partNumber);
      return { method: part.method, url: part.url, headers: part.headers };
    },

    // The parts the storage holds, each of its planned size (a short one is sent again).
    async listParts(/** @type {any} */ file, /** @type {any} */ { uploadId, signal: sig }) {
      if (plans.get(uploadId)?.deduplicated) return [];
      const { data } = await call(`${path(uploadId)}/parts`, { signal: sig });
      const sizeOf = (/** @type {number} */ n) =>
        n < data.partCount ? data.partSize : file.size - data.partSize * (data.partCount - 1);
      plans.set(uploadId, { urls: new Map(), ...plans.get(uploadId), partCount: data.partCount });
      return data.parts
        .filter((/** @type {any} */ p) => p.size === sizeOf(p.partNumber))
        .map((/** @type {any} */ p) => ({ PartNumber: p.partNumber, Size: p.size, ETag: NO_ETAG }));
    },

    async completeMultipartUpload(/** @type {any} */ file, /** @type {any} */ { uploadId, signal: sig }) {
      const done = plans.get(uploadId)?.deduplicated ?? (await complete(uploadId, sig));
      plans.delete(uploadId);
      return { location: done.publicUrl ?? undefined, key: done.key, upload: done };
    },

    async abortMultipartUpload(/** @type {any} */ file, /** @type {any} */ { uploadId }) {
      plans.delete(uploadId);
      await discard(uploadId);
    },

    // Sends each request as signed (the browser's own headers left out, a POST policy as a
    // form), and for a single upload completes it: Uppy has no step of its own for that.
    async uploadPartBytes(/** @type {any} */ { signature, body, onProgress, onComplete, signal: sig }) {
      const single = singles.get(signature.url);
      const progress = (/** @type {number} */ loaded, /** @type {number} */ total) =>
        onProgress?.({ loaded, total, lengthComputable: true });
      if (nothingToSend.has(signature.url)) {
        // A file the server already had: nothing to send.
        const size = single ? single.file.size : body.size;
        progress(size, size);
      } else {
        const target = single
          ? single.answer
          : { uploadUrl: signature.url, method: signature.method, headers: signature.headers };
        try {
          await sendToStorage(target, single ? single.file.data : body, progress, sig);
        } catch (err) {
          if (single) {
            // Uppy presigns afresh when it tries a single file again (or resumes it).
            singles.delete(signature.url);
            await discard(single.answer.id);
          }
          throw err;
        }
      }
      if (!single) {
        onComplete?.(NO_ETAG);
        return { ETag: NO_ETAG };
      }
      singles.delete(signature.url);
      const done = single.done ?? (await complete(single.answer.id, sig));
      onComplete?.(NO_ETAG);
      return { ETag: NO_ETAG, location: done.publicUrl ?? undefined, key: done.key, upload: done };
    },
  });
}

/**
 * The options with each function's UploadError turned into the error Uppy shows and retries.
 * @param {Record<string, any>} options
 */
function withUppyErrors(options) {
  /** @type {Record<string, any>} */
  const wrapped = {};
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (typeof value !== "function") {
      wrapped[name] = value;
      continue;
    }
    wrapped[name] = (/** @type {any[]} */ ...args) => {
      try {
        const result = value(...args);
        return result instanceof Promise
          ? result.catch((/** @type {unknown} */ err) => Promise.reject(forUppy(err)))
          : result;
      } catch (err) {
        throw forUppy(err);
      }
    };
  }
  return wrapped;
}

/**
 * The server plans the file otherwise than Uppy cuts it: a type whose part size is under Uppy's
 * 5 MB minimum, a file so large that the server grew its parts, or a type changed since its
 * rules were loaded.
 * @param {any} answer the presign answer @param {number} chunk Uppy's part size
 */
function mismatch(answer, chunk) {
  const plan = answer.multipart;
  return new UploadError(
    `The server plans this file in parts of ${plan.partSize} bytes, Uppy cuts it in parts of ` +
      `${chunk} bytes: set the type's part size to 5 MB or more, and load its rules again ` +
      "(awsS3Options) after a change.",
    { code: "client.part_plan_mismatch", status: 400, i18nVars: { ...plan, uppyPartSize: chunk } },
  );
}

/**
 * The error as Uppy shows and retries it: the API's message, then the code and request id
 * (Uppy shows `details` after the message); `source.status` is what Uppy's retry looks at (0:
 * no answer, worth retrying; a 4xx other than 409 and 429: not). The UploadError is `cause`.
 * @param {any} err
 */
export function forUppy(err) {
  if (!(err instanceof UploadError)) return err;
  if (err.code === "upload.aborted") {
    return new DOMException(err.message, "AbortError");
  }
  const error = /** @type {any} */ (new Error(err.message, { cause: err }));
  error.name = "UploadError";
  error.code = err.code;
  error.status = err.status;
  error.correlationId = err.correlationId;
  error.details = err.correlationId ? `(${err.code}, request ${err.correlationId})` : `(${err.code})`;
  error.source = { status: err.status };
  return error;
}
