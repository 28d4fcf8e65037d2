// /ui/login: a password (then a TOTP code, a recovery code or a passkey when
// the account asks for one), or a passkey alone.
import { $, MfaRequired, auth, factorOf, nextPage, onSubmit, restoreSession, say, showError, withBusy } from "./ui.js";

const done = () => location.replace(nextPage());
let challenge = null;

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
  done();
});

onSubmit($("#mfa"), async ({ code }) => {
  await auth.loginMfa(challenge.mfaToken, factorOf(code));
  say("Logged in");
  done();
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
    done();
  });
});

$("#passkey-login").addEventListener("click", async (event) => {
  await withBusy(event.currentTarget, async () => {
    const who = $("#login-identifier").value.trim();
    const hint = who === "" ? {} : who.includes("@") ? { email: who } : { username: who };
    await auth.loginWithPasskey(hint, $("#login-remember").checked);
    say("Logged in");
    done();
  });
});

const params = new URLSearchParams(location.search);
if (params.has("deleted")) say("Your account was deleted.");
else if (params.has("reset")) say("Your password is set: log in with it.");

// Already logged in (the cookie's session): straight on.
if (await restoreSession()) done();
