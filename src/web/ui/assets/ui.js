// What every built-in page shares: the API client in cookie mode (the refresh
// token stays in its HttpOnly cookie, the access token in this module's
// memory), forms that show the problem document's errors next to their
// fields, busy buttons, and the status line.
import {
  ConsentRequired,
  createClient,
  MfaRequired,
  PortcullisError,
  ProviderSignInError,
  StepUpRequired,
} from "./client.js";

export { ConsentRequired, MfaRequired, PortcullisError, ProviderSignInError, StepUpRequired };

/** The one client of the page, on this origin, in cookie mode. */
export const auth = createClient({ baseUrl: location.origin, mode: "cookie" });

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Says `message` in the page's live status line. */
export function say(message, isError = false) {
  const line = document.getElementById("status");
  if (!line) return;
  line.textContent = "";
  line.classList.toggle("error", isError);
  // A fresh text node, so screen readers announce a repeated message too.
  line.append(document.createTextNode(message));
}

/** The logged-in user after a page load (the cookie's session), or null. */
export async function restoreSession() {
  try {
    await auth.refresh();
    return await auth.me();
  } catch {
    return null;
  }
}

/** Sends the visitor to the login page, to come back here afterwards. */
export function toLogin() {
  const here = location.pathname + location.search;
  location.replace(`/ui/login?next=${encodeURIComponent(here)}`);
}

/** `?next=` when it is one of these pages, else `fallback`. */
export function nextPage(fallback = "/ui/account") {
  const next = new URLSearchParams(location.search).get("next");
  return next && /^\/ui\/[a-z]+(\?[^#]*)?$/.test(next) ? next : fallback;
}

/** A query parameter, taken out of the address bar (a mailed token, say). */
export function takeParam(name) {
  const url = new URL(location.href);
  const value = url.searchParams.get(name);
  if (value !== null) {
    url.searchParams.delete(name);
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return value;
}

/** The form's named values: strings, and booleans for checkboxes. */
export function values(form) {
  const data = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled) continue;
    data[element.name] = element.type === "checkbox" ? element.checked : element.value;
  }
  return data;
}

/** Marks a button as waiting (spinner, disabled, `aria-busy`), or no longer. */
export function busy(button, on) {
  if (!button) return;
  button.disabled = on;
  if (on) button.setAttribute("aria-busy", "true");
  else button.removeAttribute("aria-busy");
}

/** Runs `action` with `button` busy; a failure goes to `say`. */
export async function withBusy(button, action) {
  busy(button, true);
  try {
    return await action();
  } catch (error) {
    say(describe(error), true);
    return undefined;
  } finally {
    busy(button, false);
  }
}

// Codes that are about one field of the form that was sent.
const FIELD_OF_CODE = {
  wrong_password: ["current_password", "password"],
  invalid_credentials: ["password"],
  email_taken: ["email", "new_email"],
  username_taken: ["username"],
  invalid_mfa_code: ["code"],
};

/** One sentence for an error: the problem's detail, or what went wrong. */
export function describe(error) {
  if (error instanceof PortcullisError) {
    const problem = error.problem ?? {};
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    return `${problem.detail ?? problem.title ?? error.message}${wait}`;
  }
  if (error?.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
  return `Something went wrong: ${error?.message ?? error}. Check your connection and try again.`;
}

export function clearErrors(form) {
  for (const message of $$(".field-error", form)) message.remove();
  for (const input of $$("[aria-invalid]", form)) {
    input.removeAttribute("aria-invalid");
    const original = input.dataset.describedby;
    if (original) input.setAttribute("aria-describedby", original);
    else input.removeAttribute("aria-describedby");
  }
  const summary = $(".form-error", form);
  if (summary) summary.textContent = "";
}

function markField(form, name, text) {
  const input = form.elements.namedItem(name);
  if (!input || !input.id) return false;
  const message = document.createElement("p");
  message.className = "field-error";
  message.id = `${input.id}-error`;
  message.textContent = text;
  input.after(message);
  if (input.dataset.describedby === undefined) {
    input.dataset.describedby = input.getAttribute("aria-describedby") ?? "";
  }
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", `${input.dataset.describedby} ${message.id}`.trim());
  return true;
}

/** Shows an error on a form: each field's beside it, the rest at the top. */
export function showError(form, error) {
  clearErrors(form);
  const summary = $(".form-error", form);
  let first = null;
  if (error instanceof PortcullisError) {
    const fields = error.problem?.errors ?? {};
    const unplaced = [];
    for (const [name, problems] of Object.entries(fields)) {
      const text = problems.map((problem) => problem.message).join(" ");
      if (markField(form, name, text)) first ??= form.elements.namedItem(name);
      else unplaced.push(`${name}: ${text}`);
    }
    const candidates = FIELD_OF_CODE[error.code] ?? [];
    const field = candidates.find((name) => form.elements.namedItem(name)?.id);
    if (Object.keys(fields).length === 0 && field) {
      markField(form, field, describe(error));
      first = form.elements.namedItem(field);
    }
    const text = unplaced.length > 0 ? `${describe(error)} ${unplaced.join(" ")}` : describe(error);
    if (summary) summary.textContent = text;
  } else if (summary) {
    summary.textContent = describe(error);
  }
  if (!summary) say(describe(error), true);
  (first ?? summary)?.focus?.();
}

/**
 * Handles a form's submission: its errors cleared, its button busy while
 * `action(values, form)` runs, and a failure shown on the form.
 */
export function onSubmit(form, action) {
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter ?? $("button[type=submit]", form);
    clearErrors(form);
    busy(button, true);
    try {
      await action(values(form), form);
    } catch (error) {
      showError(form, error);
    } finally {
      busy(button, false);
    }
  });
}

/** A second factor typed in one box: 6 digits are a TOTP code, the rest a recovery code. */
export function factorOf(text) {
  const typed = text.trim();
  return /^\d{6}$/.test(typed) ? { code: typed } : { recovery_code: typed };
}

/** An element with attributes and children (text or elements). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A date as the reader's locale writes it (with the full time on hover). */
export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, date.toLocaleString());
}
