// /ui/reset?token=…: the page a reset (or invitation) link opens. The token
// leaves the address bar at once and stays in memory.
import { $, auth, onSubmit, say, takeParam } from "./ui.js";

const token = takeParam("token");
if (!token) {
  $("#reset").hidden = true;
  say("This page needs the link from your mail. Ask for a new one if it is lost.", true);
}

onSubmit($("#reset"), async ({ new_password }) => {
  await auth.resetPassword(token, new_password);
  location.replace("/ui/login?reset=1");
});
