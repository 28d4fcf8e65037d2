// /ui/verify?token=…: the page a verification (or email-change) link opens.
import { auth, describe, say, takeParam } from "./ui.js";

const token = takeParam("token");
if (!token) {
  say("This page needs the link from your mail.", true);
} else {
  try {
    await auth.verifyEmail(token);
    say("Your email address is verified.");
  } catch (error) {
    say(describe(error), true);
  }
}
