// Calls to the gateway's admin routes. The admin key lives in this tab's session storage only
// (never in a URL or a cookie) and goes out as a bearer header on every call.

const KEY_ITEM = "qwen-proxy.admin-key";

/** An admin route answered with an error (status 0: the gateway did not answer). */
export class ApiError extends Error {
  constructor(status, message, code = null, param = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    /** the request field the error is about, when the gateway names one */
    this.param = param;
  }
}

/** The key this tab signed in with, or null. */
export function storedKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

/** Remember the key for this tab (session storage: gone when the tab closes). */
export function storeKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

/** Forget the key. */
export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** Listeners told when the gateway refuses the stored key (401). */
const refusedListeners = [];

/** Call `listener(error)` whenever a call with the stored key is refused. */
export function onKeyRefused(listener) {
  refusedListeners.push(listener);
}

/**
 * One call to an admin route: resolves to the parsed JSON answer, rejects with ApiError.
 * `key` defaults to the stored key (the sign-in form passes the one being tried).
 */
export async function api(method, path, body, key) {
  const usingStored = key === undefined;
  const bearer = usingStored ? storedKey() : key;
  const headers = { Accept: "application/json", Authorization: `Bearer ${bearer}` };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "The gateway does not answer.", "unreachable");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && typeof data.error === "object" && data.error ? data.error : {};
    const failure = new ApiError(
      response.status,
      error.message || `The gateway answered ${response.status}.`,
      error.code || null,
      error.param || null,
    );
    if (response.status === 401 && usingStored) {
      refusedListeners.forEach((listener) => listener(failure));
    }
    throw failure;
  }
  return data;
}
