// The demo app: every call goes through the TypeScript client in cookie mode,
// so the refresh token lives in an HttpOnly cookie this script never sees and
// the access token only in memory. A reload restores the session (auth.restore()).
import { API } from "/config.js";
import {
  MfaRequired,
  PortcullisError,
  ProviderSignInError,
  StepUpRequired,
  createClient,
} from "/client/index.js";

const auth = createClient({ baseUrl: API, mode: "cookie", onSessionEnd: () => show(null) });
const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
const fields = (form) => Object.fromEntries(new FormData(form));
let pendingMfa = null;

function explain(error) {
  if (error instanceof ProviderSignInError) {
    return error.reason === "account_exists"
      ? "account_exists: an account already has this address; log in, then link the provider under Linked accounts"
      : `${error.reason}: the sign-in at the provider did not finish`;
  }
  if (error instanceof StepUpRequired) {
    return "step_up_required: this session was opened with the password only; log out and log in again with your passkey or code to change your second factors";
  }
  return error instanceof PortcullisError ? `${error.code}: ${error.message}` : String(error);
}

function on(id, handler) {
  $(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await handler(fields(event.target), event.target);
    } catch (error) {
      status(explain(error));
    }
  });
}

async function show(user) {
  $("signed-in").hidden = !user;
  $("signed-out").hidden = !!user;
  if (!user) return;
  $("me").textContent = JSON.stringify(user, null, 2);
  const sessions = await auth.request("GET", "/me/sessions");
  $("sessions").replaceChildren(
    ...sessions.map((session) => {
      const item = document.createElement("li");
      item.textContent = `${session.user_agent ?? "?"} since ${session.created_at}${session.current ? " (this one)" : ""} `;
      if (!session.current) {
        const revoke = document.createElement("button");
        revoke.textContent = "Revoke";
        revoke.onclick = async () => {
          await auth.request("DELETE", `/me/sessions/${session.id}`);
          await show(await auth.me());
        };
        item.append(revoke);
      }
      return item;
    }),
  );
  const passkeys = await auth.passkeys();
  $("passkeys").replaceChildren(
    ...passkeys.map((passkey) => {
      const item = document.createElement("li");
      item.textContent = `${passkey.name}, added ${passkey.created_at} `;
      const remove = document.createElement("button");
      remove.textContent = "Remove";
      remove.onclick = async () => {
        await auth.removePasskey(passkey.id);
        await show(await auth.me());
      };
      item.append(remove);
      return item;
    }),
  );
  const identities = await auth.identities();
  $("identities").replaceChildren(
    ...identities.map((identity) => {
      const item = document.createElement("li");
      item.textContent = `${identity.provider}: ${identity.email ?? identity.subject} `;
      const unlink = document.createElement("button");
      unlink.textContent = "Unlink";
      unlink.onclick = async () => {
        try {
          await auth.unlinkIdentity(identity.id);
          await show(await auth.me());
        } catch (error) {
          status(explain(error));
        }
      };
      item.append(unlink);
      return item;
    }),
  );
  $("link-buttons").replaceChildren(
    ...providers.map(({ id, name }) => {
      const link = document.createElement("button");
      link.textContent = `Link ${name}`;
      link.onclick = () =>
        auth.linkProvider(id, `${location.origin}/?linked`).catch((error) => status(explain(error)));
      return link;
    }),
  );
  // Last, so that "Logged in" means the whole page is up to date.
  status(`Logged in as ${user.username}`);
}

on("login", async ({ email, password }) => {
  try {
    await show(await auth.login({ email, password }));
  } catch (error) {
    if (!(error instanceof MfaRequired)) throw error;
    await askSecondFactor(error);
  }
});

// The second step offers what the account has: a code (TOTP or a recovery
// code) and/or one of its passkeys.
async function askSecondFactor(error) {
  pendingMfa = error;
  const codes = error.methods.includes("totp");
  $("mfa-code").hidden = !codes;
  $("mfa-code").querySelector("input").required = codes;
  $("mfa-passkey").hidden = !error.methods.includes("passkey");
  $("login").hidden = true;
  $("mfa").hidden = false;
  status(codes ? "Enter the code from your authenticator app" : "Confirm with your passkey");
}

function finishMfa() {
  pendingMfa = null;
  $("mfa").hidden = true;
  $("login").hidden = false;
}

on("mfa", async ({ code }) => {
  const factor = /^\d{6}$/.test(code.replace(/\s/g, "")) ? { code } : { recovery_code: code };
  await show(await auth.loginMfa(pendingMfa.mfaToken, factor));
  finishMfa();
});

$("mfa-passkey").addEventListener("click", async () => {
  try {
    await show(await auth.loginMfaWithPasskey(pendingMfa));
    finishMfa();
  } catch (error) {
    status(explain(error));
  }
});

on("passkey-login", async ({ email }) => {
  await show(await auth.loginWithPasskey(email ? { email } : {}));
});

on("add-passkey", async ({ name, password }, form) => {
  await auth.addPasskey(password, name);
  form.reset();
  await show(await auth.me());
  status(`Passkey added: ${name}`);
});

let emailForCode = null;

// The link in the mail comes back to this page (`redirect_to`, an allowed
// origin) with ?sign-in&token=…; the code can be typed instead.
on("email-login", async ({ email }) => {
  await auth.requestEmailLogin(email, `${location.origin}/?sign-in`);
  emailForCode = email;
  $("email-code").hidden = false;
  status("Check your mail: open the link, or type the code");
});

async function signedInByEmail(proof) {
  try {
    await show(await auth.loginWithEmail(proof));
  } catch (error) {
    if (!(error instanceof MfaRequired)) throw error;
    await askSecondFactor(error);
  }
}

on("email-code", async ({ code }, form) => {
  await signedInByEmail({ email: emailForCode, code });
  form.reset();
  $("email-code").hidden = true;
});

on("register", async (body, form) => {
  await auth.register(body);
  form.reset();
  status("Registered: now log in");
});

on("forgot", async ({ email }) => {
  await fetch(`${API}/password/forgot`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email }),
  });
  status("If the address has an account, a reset link is on its way");
});

on("reset", async ({ new_password }) => {
  const token = new URLSearchParams(location.search).get("token");
  const response = await fetch(`${API}/password/reset`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, new_password }),
  });
  status(response.ok ? "Password set: log in with it" : `Reset failed (${response.status})`);
});

on("change-password", async (body, form) => {
  await auth.request("PUT", "/me/password", body);
  form.reset();
  await show(await auth.me());
  status("Password changed; your other sessions have ended");
});

on("delete-account", async (body) => {
  await auth.request("DELETE", "/account", body);
  await auth.logout().catch(() => {});
  status("Account deleted");
});

$("logout").addEventListener("click", async () => {
  await auth.logout().catch(() => {});
  status("Logged out");
});

// "Sign in with …": the browser goes to the provider and comes back to
// /?provider-sign-in&code=… (or &error=…), finished below.
const providers = await auth.providers().catch(() => []);
$("providers").hidden = providers.length === 0;
$("provider-buttons").replaceChildren(
  ...providers.map(({ id, name }) => {
    const button = document.createElement("button");
    button.textContent = `Sign in with ${name}`;
    button.onclick = () => auth.signInWithProvider(id, `${location.origin}/?provider-sign-in`);
    return button;
  }),
);

// A link from a reset mail (?token=…) opens the reset form; verification
// links (?verify=…) are confirmed at once.
const query = new URLSearchParams(location.search);
const signInToken = query.has("sign-in") ? query.get("token") : null;
if (query.has("token") && !signInToken) $("reset").hidden = false;
if (query.has("verify")) {
  await fetch(`${API}/email/verify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: query.get("verify") }),
  });
}

if (query.has("provider-sign-in")) {
  history.replaceState(null, "", location.pathname);
  try {
    await show(await auth.completeProviderSignIn(query));
  } catch (error) {
    await show(null);
    if (error instanceof MfaRequired) await askSecondFactor(error);
    else status(explain(error));
  }
} else if (signInToken) {
  history.replaceState(null, "", location.pathname);
  try {
    await signedInByEmail({ token: signInToken });
  } catch (error) {
    await show(null);
    status(explain(error));
  }
} else {
  // restore(): the user, or null without a request (and so without a 401 in
  // the console) when the hint cookie says there is no session.
  const user = await auth.restore().catch(() => null);
  await show(user);
  if (user === null) status("Not logged in");
}
