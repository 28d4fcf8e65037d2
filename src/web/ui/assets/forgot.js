// /ui/forgot: mails a reset link (the answer is the same whether or not the
// address has an account).
import { $, auth, onSubmit, say } from "./ui.js";

onSubmit($("#forgot"), async ({ email }) => {
  await auth.forgotPassword(email.trim());
  say("If an account has this address, a link to set a new password is on its way. Check your mail.");
});
