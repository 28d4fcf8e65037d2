// /ui/login: a password (then a TOTP code, a recovery code or a passkey when
// the account asks for one), a passkey alone, or another provider. Opened by
// an app's authorization request (`?request_id=…`, OpenID Provider), it says
// which app asks, logs the user in, asks for consent when the app needs it,
// and sends the browser back to the app.
import {
  $,
  ConsentRequired,
  MfaRequired,
  ProviderSignInError,
  auth,
  factorOf,
  nextPage,
  onSubmit,
  restoreSession,
  say,
  showError,
  StepUpRequired,
  withBusy,
} from "./ui.js";

const params = new URLSearchParams(location.search);
let requestId = params.get("request_id");
let challenge = null;

/** What each scope lets the app do, in words. */
const scopeWords = {
  openid: "Know who you are",
  profile: "See your username",
  email: "See your email address",
  offline_access: "Stay signed in when you are away",
};

function askConsent(app, scopes) {
  $("#consent-app").textContent = app;
  $("#consent-scopes").replaceChildren(
    ...scopes.map((scope) => {
      const item = document.createElement("li");
      item.textContent = scopeWords[scope] ?? scope;
      return item;
    }),
  );
  for (const id of ["#login", "#second-step", "#passkey-section", "#provider-section"]) $(id).hidden = true;
  $("#consent").hidden = false;
  say(`Allow ${app}?`);
  $("#consent-title").focus();
}

/** Logged in: back to the app that asked (accepting its request), or on. */
async function done() {
  if (!requestId) {
    location.replace(nextPage());
    return;
  }
  try {
    location.assign(await auth.acceptAuthorizationRequest(requestId));
  } catch (error) {
    if (error instanceof ConsentRequired) {
      askConsent($("#app-request").dataset.app ?? "This app", error.scopes);
    } else if (error instanceof StepUpRequired) {
      // The app asked for a fresh login (prompt=login, max_age).
      await auth.logout().catch(() => {});
      $("#login").hidden = false;
      say("The app asks you to log in again.", true);
    } else {
      say(error.message ?? "The app's request could not be accepted.", true);
    }
  }
}

$("#consent-allow").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => location.assign(await auth.acceptAuthorizationRequest(requestId, true))),
);
$("#consent-deny").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => location.assign(await auth.rejectAuthorizationRequest(requestId))),
);

let appRequest = null;
if (requestId) {
  try {
    appRequest = await auth.authorizationRequest(requestId);
    const line = $("#app-request");
    line.dataset.app = appRequest.client.name;
    line.textContent = `${appRequest.client.name} asks you to log in.`;
    line.hidden = false;
    document.title = `Log in to ${appRequest.client.name} · Portcullis`;
  } catch {
    requestId = null;
    say("This sign-in request has expired or was already used: go back to the app and start again.", true);
  }
}

function askSecondFactor(required) {
  challenge = required;
  const section = $("#second-step");
  const hasCode = required.methods.includes("totp") || required.methods.includes("recovery_code");
  const hasPasskey = required.methods.includes("passkey") && required.passkeyOptions;
  $("#mfa-code-field").hidden = !hasCode;
  $("#mfa-submit").hidden = !hasCode;
  $("#mfa-passkey").hidden = !hasPasskey;
  $("#second-step-hint").textContent = hasCode
    ? "Your password was right. Enter the 6-digit code from your authenticator app or one of your recovery codes" +
      (hasPasskey ? ", or use a passkey." : ".")
    : "Your password was right. Confirm with your passkey.";
  section.hidden = false;
  $("#login").hidden = true;
  $("#passkey-section").hidden = true;
  say(hasCode ? "Enter your second factor" : "Confirm with your passkey");
  (hasCode ? $("#mfa-code") : $("#mfa-passkey")).focus();
}

onSubmit($("#login"), async ({ identifier, password, remember }) => {
  const who = identifier.trim();
  const request = who.includes("@") ? { email: who, password, remember } : { username: who, password, remember };
  try {
    await auth.login(request);
  } catch (error) {
    if (error instanceof MfaRequired) return askSecondFactor(error);
    throw error;
  }
  say("Logged in");
  await done();
});

onSubmit($("#mfa"), async ({ code }) => {
  await auth.loginMfa(challenge.mfaToken, factorOf(code));
  say("Logged in");
  await done();
});

$("#mfa-passkey").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  await withBusy(button, async () => {
    try {
      await auth.loginMfaWithPasskey(challenge);
    } catch (error) {
      showError($("#mfa"), error);
      return;
    }
    say("Logged in");
    await done();
  });
});

$("#passkey-login").addEventListener("click", async (event) => {
  await withBusy(event.currentTarget, async () => {
    const who = $("#login-identifier").value.trim();
    const hint = who === "" ? {} : who.includes("@") ? { email: who } : { username: who };
    await auth.loginWithPasskey(hint, $("#login-remember").checked);
    say("Logged in");
    await done();
  });
});

// Other providers: the browser goes there and comes back to this page with
// ?provider&code=… (or &error=…), keeping ?next=.
const refusals = {
  account_exists:
    "An account already has this address. Log in with your password, then link the provider on your account page.",
  email_not_verified: "The provider does not vouch for your address, so no account can be made with it.",
  account_disabled: "This account is disabled.",
  signup_closed: "No account has this identity, and new accounts are not open.",
  provider_error: "The sign-in was cancelled or refused at the provider.",
  invalid_state: "The sign-in took too long or began in another browser: try again.",
  provider_unavailable: "The provider could not be reached: try again shortly.",
};
const providers = await auth.providers().catch(() => []);
$("#provider-section").hidden = providers.length === 0;
$("#provider-buttons").replaceChildren(
  ...providers.map(({ id, name }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = name;
    button.setAttribute("aria-label", `Sign in with ${name}`);
    button.addEventListener("click", () => {
      const back = new URL("/ui/login", location.origin);
      back.searchParams.set("provider", id);
      for (const kept of ["next", "request_id"]) {
        const value = params.get(kept);
        if (value) back.searchParams.set(kept, value);
      }
      return auth.signInWithProvider(id, back.toString(), $("#login-remember").checked);
    });
    return button;
  }),
);

if (params.has("deleted")) say("Your account was deleted.");
else if (params.has("reset")) say("Your password is set: log in with it.");

if (params.has("provider")) {
  const answer = new URLSearchParams(params);
  // The code is used once: out of the address bar and the history.
  const kept = new URL(location.href);
  for (const name of ["provider", "code", "error", "state"]) kept.searchParams.delete(name);
  history.replaceState(null, "", kept.pathname + kept.search);
  try {
    await auth.completeProviderSignIn(answer);
    say("Logged in");
    await done();
  } catch (error) {
    if (error instanceof MfaRequired) askSecondFactor(error);
    else if (error instanceof ProviderSignInError) say(refusals[error.reason] ?? `The sign-in did not finish (${error.reason}).`, true);
    else showError($("#login"), error);
  }
} else if (!appRequest?.prompt?.split(" ").includes("login") && (await restoreSession())) {
  // Already logged in (the cookie's session): straight on (unless the app
  // asked for a fresh login).
  await done();
}
