// /ui/register: creates the account, then logs in with it (unless the address
// must be verified first).
import { $, PortcullisError, auth, onSubmit, say } from "./ui.js";

onSubmit($("#register"), async ({ username, email, password }) => {
  await auth.register({ username: username.trim(), email: email.trim(), password });
  try {
    await auth.login({ email: email.trim(), password });
  } catch (error) {
    if (error instanceof PortcullisError && error.code === "email_not_verified") {
      $("#register").hidden = true;
      say("Account created. Open the link we mailed you to verify your address, then log in.");
      return;
    }
    throw error;
  }
  say("Account created");
  location.replace("/ui/account?welcome=1");
});
