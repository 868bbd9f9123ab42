/**
 * Token mode: the page asks for an API key and keeps it for this tab only (sessionStorage, gone
 * when the tab closes). The key goes nowhere else: not to localStorage, a URL or a log; it is
 * sent only in the Authorization header of this service's own API calls.
 */

import { h } from "./dom.js";

const STORED = "jobs-sidecar:api-key";

/** The key this tab was given, or null. */
export function storedKey() {
  try {
    return sessionStorage.getItem(STORED);
  } catch {
    return null;
  }
}

export function keepKey(key) {
  try {
    sessionStorage.setItem(STORED, key);
  } catch {
    // Storage refused: the key lasts as long as this page.
  }
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(STORED);
  } catch {
    // Nothing was kept.
  }
}

/** The headers that carry `key` (none without one). */
export function keyHeaders(key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * Ask for a key in `container`: resolves with `{key, value}` once `tryKey(key)` resolves with
 * `value`; a 401 says the key was refused and asks again. `refused`: the page's key was refused.
 */
export function askForKey(container, tryKey, { refused = false } = {}) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "api-key-help api-key-error" });
  const error = h("p", { class: "form-error", id: "api-key-error", role: "alert" },
    refused ? "The key this tab had was refused: enter another." : "");
  const button = h("button", { type: "submit", class: "primary" }, "Use this key");
  const form = h("form", { class: "api-key", novalidate: true, "aria-labelledby": "api-key-title" },
    h("h2", { id: "api-key-title" }, "Sign in with an API key"),
    h("p", { id: "api-key-help", class: "muted" },
      "This service takes an API key. It is kept in this tab only, until you close it, and sent only to this service."),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
    error, button);
  container.replaceChildren(form);
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) {
        error.textContent = "Enter the API key you were given.";
        return;
      }
      button.disabled = true;
      try {
        const value = await tryKey(key);
        keepKey(key);
        resolve({ key, value });
      } catch (problem) {
        input.value = "";
        error.textContent = problem.status === 401
          ? "This key was refused: check it and try again."
          : `Could not check the key: ${problem.message} (${problem.code})`;
        input.focus();
      } finally {
        button.disabled = false;
      }
    });
  });
}
