// The whole integration: oidc-client-ts's UserManager pointed at Portcullis.
// The library reads discovery, sends the browser to /oauth2/authorize with
// PKCE, state and nonce, and on /callback.html exchanges the code and checks
// the ID token's claims.
import { CLIENT_ID, ISSUER } from "./config.js";

const manager = new oidc.UserManager({
  authority: ISSUER,
  client_id: CLIENT_ID,
  redirect_uri: `${location.origin}/callback.html`,
  post_logout_redirect_uri: `${location.origin}/`,
  scope: "openid email profile",
  response_type: "code",
});

const who = document.getElementById("who");
const signIn = document.getElementById("sign-in");
const signOut = document.getElementById("sign-out");

function show(user) {
  who.textContent = user ? `Signed in as ${user.profile.email} (${user.profile.sub})` : "Not signed in.";
  signIn.hidden = Boolean(user);
  signOut.hidden = !user;
}

signIn.addEventListener("click", () => manager.signinRedirect());
signOut.addEventListener("click", () => manager.signoutRedirect());

if (location.pathname === "/callback.html") {
  try {
    const user = await manager.signinRedirectCallback();
    history.replaceState(null, "", "/");
    show(user);
  } catch (error) {
    who.textContent = `Sign-in failed: ${error.message}`;
  }
} else {
  show(await manager.getUser());
}
