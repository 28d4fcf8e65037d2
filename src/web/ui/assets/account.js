// /ui/account: the signed-in user's own console. Every action is one call of
// the API; a factor change that answers 403 step_up_required asks for the
// second factor in a dialog, logs in again with it, and retries.
import {
  $, MfaRequired, StepUpRequired, auth, clearErrors, describe, factorOf, h, onSubmit, restoreSession, say,
  showError, toLogin, when, withBusy,
} from "./ui.js";
import { qrSvg } from "./qr.js";

let me = await restoreSession();
if (!me) toLogin();

function showProfile() {
  $("#me-username").textContent = me.username;
  $("#me-email").textContent = me.email;
  $("#me-verified").textContent = me.email_verified ? "verified" : "not verified";
  $("#me-role").textContent = me.role;
  $("#me-created").replaceChildren(when(me.created_at));
  $("#resend-verification").hidden = me.email_verified;
  $("#admin-link").hidden = me.role !== "admin";
  const totp = me.mfa.totp;
  $("#totp-state").textContent = totp
    ? `On. ${me.mfa.recovery_codes_left} recovery codes left.`
    : "Off. Add an authenticator app for a second step at login.";
  $("#totp-start").hidden = totp || !$("#totp-enroll").hidden;
  $("#totp-on").hidden = !totp;
}

async function reload() {
  me = await auth.me();
  showProfile();
  await Promise.all([showPasskeys(), showSessions(), showIdentities()]);
}

// --- step-up ------------------------------------------------------------

const dialog = $("#step-up");

/** Logs in again with a second factor (a new session with `mfa` or `hwk`); resolves false if cancelled. */
function stepUp() {
  return new Promise((resolve) => {
    const form = $("#step-up-form");
    form.reset();
    clearErrors(form);
    let settled = false;
    const finish = async (ok, previous) => {
      if (settled) return;
      settled = true;
      if (ok && previous) await auth.revokeSession(previous).catch(() => {});
      dialog.close();
      resolve(ok);
    };
    const current = async () => (await auth.sessions()).find((session) => session.current)?.id;
    form.onsubmit = async (event) => {
      event.preventDefault();
      const button = event.submitter;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        const previous = await current();
        const { password, code } = Object.fromEntries(new FormData(form));
        try {
          await auth.login({ email: me.email, password });
        } catch (error) {
          if (!(error instanceof MfaRequired)) throw error;
          await auth.loginMfa(error.mfaToken, factorOf(code));
        }
        await finish(true, previous);
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    };
    $("#step-up-passkey").onclick = async (event) => {
      await withBusy(event.currentTarget, async () => {
        try {
          const previous = await current();
          await auth.loginWithPasskey({ email: me.email });
          await finish(true, previous);
        } catch (error) {
          showError(form, error);
        }
      });
    };
    $("#step-up-cancel").onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    dialog.showModal();
    $("#step-up-password").focus();
  });
}

/** Runs `action`; on 403 step_up_required, steps up and runs it once more. */
async function withStepUp(action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof StepUpRequired)) throw error;
    say("This change needs your second factor.");
    if (!(await stepUp())) throw error;
    return await action();
  }
}

// --- profile --------------------------------------------------------------

$("#resend-verification").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    await auth.resendVerification();
    say(`A new verification link is on its way to ${me.email}.`);
  }));

onSubmit($("#change-username"), async ({ username }, form) => {
  me = await auth.changeUsername(username.trim());
  form.reset();
  showProfile();
  say(`Your username is now ${me.username}.`);
});

onSubmit($("#change-email"), async ({ new_email, password }, form) => {
  await auth.changeEmail(new_email.trim(), password);
  form.reset();
  say(`Open the link we mailed to ${new_email.trim()} to finish the change.`);
});

onSubmit($("#change-password"), async ({ current_password, new_password }, form) => {
  await auth.changePassword(current_password, new_password);
  form.reset();
  say("Password changed. Your other sessions have ended.");
  await showSessions();
});

// --- TOTP -------------------------------------------------------------------

function showRecoveryCodes(codes) {
  $("#recovery-codes").replaceChildren(...codes.map((code) => h("li", {}, code)));
  $("#recovery").hidden = false;
  $("#recovery-title").focus();
}

onSubmit($("#totp-start"), async ({ password }, form) => {
  const enrollment = await withStepUp(() => auth.enrollTotp(password));
  form.reset();
  form.hidden = true;
  $("#totp-qr").replaceChildren(qrSvg(enrollment.otpauth_uri, "QR code of the authenticator key"));
  $("#totp-secret").textContent = enrollment.secret;
  $("#totp-enroll").hidden = false;
  say("Scan the code, then enter the app's first code.");
  $("#totp-confirm-code").focus();
});

onSubmit($("#totp-confirm"), async ({ code }, form) => {
  const codes = await auth.confirmTotp(code.trim());
  form.reset();
  $("#totp-enroll").hidden = true;
  $("#totp-qr").replaceChildren();
  $("#totp-secret").textContent = "";
  await reload();
  say("The authenticator app is on. Save your recovery codes.");
  showRecoveryCodes(codes);
});

$("#recovery-done").addEventListener("click", () => {
  $("#recovery-codes").replaceChildren();
  $("#recovery").hidden = true;
  $("#totp-title").focus?.();
  say("Recovery codes put away.");
});

onSubmit($("#totp-disable"), async ({ password, code }, form) => {
  await auth.disableTotp(password, code.trim());
  form.reset();
  await reload();
  say("The authenticator app is off.");
});

onSubmit($("#recovery-regenerate"), async ({ password, code }, form) => {
  const codes = await auth.regenerateRecoveryCodes(password, code.trim());
  form.reset();
  await reload();
  say("New recovery codes made; the old ones no longer work.");
  showRecoveryCodes(codes);
});

// --- passkeys -------------------------------------------------------------

async function showPasskeys() {
  const passkeys = await auth.passkeys();
  const list = $("#passkeys");
  if (passkeys.length === 0) {
    list.replaceChildren(h("li", {}, h("span", { class: "what muted" }, "No passkey yet.")));
    return;
  }
  list.replaceChildren(...passkeys.map((passkey) => h("li", {},
    h("span", { class: "what" }, passkey.name,
      h("small", {}, "Added ", when(passkey.created_at), " · last used ", when(passkey.last_used_at))),
    h("button", {
      type: "button",
      class: "secondary",
      "aria-label": `Remove passkey ${passkey.name}`,
      onclick: (event) => withBusy(event.currentTarget, async () => {
        await withStepUp(() => auth.removePasskey(passkey.id));
        await reload();
        say(`Passkey ${passkey.name} removed.`);
      }),
    }, "Remove"),
  )));
}

onSubmit($("#add-passkey"), async ({ name, password }, form) => {
  const passkey = await withStepUp(() => auth.addPasskey(password, name.trim()));
  form.reset();
  await reload();
  say(`Passkey ${passkey.name} added.`);
});

// --- linked accounts ------------------------------------------------------

const providers = await auth.providers().catch(() => []);

async function showIdentities() {
  $("#identities-card").hidden = providers.length === 0;
  if (providers.length === 0) return;
  const identities = await auth.identities();
  const nameOf = (id) => providers.find((provider) => provider.id === id)?.name ?? id;
  const list = $("#identities");
  list.replaceChildren(...(identities.length === 0
    ? [h("li", {}, h("span", { class: "what muted" }, "None yet."))]
    : identities.map((identity) => h("li", {},
      h("span", { class: "what" }, nameOf(identity.provider),
        h("small", {}, identity.email ?? identity.subject, " · linked ", when(identity.created_at))),
      h("button", {
        type: "button",
        class: "secondary",
        "aria-label": `Unlink ${nameOf(identity.provider)}`,
        onclick: (event) => withBusy(event.currentTarget, async () => {
          await withStepUp(() => auth.unlinkIdentity(identity.id));
          await reload();
          say(`${nameOf(identity.provider)} unlinked.`);
        }),
      }, "Unlink")))));
  $("#link-buttons").replaceChildren(...providers.map(({ id, name }) => h("button", {
    type: "button",
    class: "secondary",
    onclick: (event) => withBusy(event.currentTarget, () =>
      withStepUp(() => auth.linkProvider(id, new URL("/ui/account", location.origin).toString()))),
  }, `Link ${name}`)));
}

// --- connected apps (OpenID Provider consents) -----------------------------

async function showApps() {
  const consents = await auth.consents();
  $("#apps").replaceChildren(...(consents.length === 0
    ? [h("li", {}, h("span", { class: "what muted" }, "None yet."))]
    : consents.map((consent) => h("li", {},
      h("span", { class: "what" }, consent.client_name,
        h("small", {}, consent.scopes.join(", "), " · allowed ", when(consent.granted_at))),
      h("button", {
        type: "button",
        class: "secondary",
        "aria-label": `Revoke the access of ${consent.client_name}`,
        onclick: (event) => withBusy(event.currentTarget, async () => {
          await auth.revokeConsent(consent.client_id);
          await showApps();
          say(`${consent.client_name} no longer has access.`);
        }),
      }, "Revoke")))));
}

// --- sessions -------------------------------------------------------------

function describeSession(session) {
  const agent = session.last_user_agent ?? session.user_agent ?? "Unknown device";
  const address = session.last_ip ?? session.ip ?? "unknown address";
  return { agent, address };
}

async function showSessions() {
  const sessions = await auth.sessions();
  $("#end-others").hidden = !sessions.some((session) => !session.current);
  $("#session-list").replaceChildren(...sessions.map((session) => {
    const { agent, address } = describeSession(session);
    return h("li", {},
      h("span", { class: "what" }, agent, session.current ? h("span", { class: "tag" }, "this session") : null,
        h("small", {}, `${address} · started `, when(session.created_at), " · last active ", when(session.last_used_at))),
      session.current ? null : h("button", {
        type: "button",
        class: "secondary",
        "aria-label": `End the session started ${new Date(session.created_at).toLocaleString()} from ${address}`,
        onclick: (event) => withBusy(event.currentTarget, async () => {
          await auth.revokeSession(session.id);
          await showSessions();
          say("Session ended.");
        }),
      }, "End"));
  }));
}

$("#end-others").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    const others = (await auth.sessions()).filter((session) => !session.current);
    for (const session of others) await auth.revokeSession(session.id);
    await showSessions();
    say(`${others.length} other session${others.length === 1 ? "" : "s"} ended.`);
  }));

// --- delete, log out ----------------------------------------------------------

onSubmit($("#delete-account"), async ({ password, confirm }, form) => {
  if (!confirm) {
    $(".form-error", form).textContent = "Tick the box to confirm that the account is to be deleted.";
    $("#delete-confirm").focus();
    return;
  }
  await auth.deleteAccount(password);
  location.replace("/ui/login?deleted=1");
});

$("#logout").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    await auth.logout();
    location.replace("/ui/login");
  }));

if (me) {
  try {
    showProfile();
    await Promise.all([showPasskeys(), showSessions(), showIdentities(), showApps()]);
    $("#console").hidden = false;
    const query = new URLSearchParams(location.search);
    const linked = query.get("linked");
    const refused = query.get("error");
    if (linked || refused) history.replaceState(null, "", location.pathname);
    if (linked) say(`${providers.find((provider) => provider.id === linked)?.name ?? linked} linked.`);
    else if (refused === "identity_taken") say("That account is linked to another user here.", true);
    else if (refused) say(`Linking did not finish (${refused}).`, true);
    else say(query.has("welcome") ? `Welcome, ${me.username}.` : `Logged in as ${me.username}`);
  } catch (error) {
    say(describe(error), true);
  }
}
