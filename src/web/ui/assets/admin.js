// /ui/admin: the operator's console over the admin API as it is. Nothing here
// decides who may do what: the API checks the role in the database (and
// ADMIN_REQUIRE_MFA, and the last-admin rule) on every call, and this page
// only shows its answers. A non-admin sees a notice and no account.
import { $, auth, describe, h, onSubmit, restoreSession, say, toLogin, when, withBusy } from "./ui.js";

const api = (method, path, body) => auth.request(method, path, body);
const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
};

// --- dashboard ----------------------------------------------------------------

const FIGURES = [
  ["users", "Accounts"], ["admins", "Admins"], ["disabled_users", "Disabled"],
  ["mfa_enabled_users", "With two-factor"], ["active_sessions", "Active sessions"],
  ["signups_last_24h", "Sign-ups, 24 h"], ["failed_logins_last_24h", "Failed logins, 24 h"],
  ["password_check_failures_last_24h", "Wrong current passwords, 24 h"],
  ["mail_pending", "Mail waiting"], ["mail_failing", "Mail failing"],
];

function accountLine(user) {
  return h("li", {},
    h("span", { class: "what" },
      h("button", { type: "button", class: "link", onclick: () => openUser(user.id) }, user.username),
      user.role === "admin" ? h("span", { class: "tag" }, "admin") : null,
      user.disabled ? h("span", { class: "tag" }, "disabled") : null,
      h("small", {}, user.email, " · joined ", when(user.created_at))));
}

async function showDashboard() {
  const [figures, recent] = await Promise.all([
    api("GET", "/admin"),
    api("GET", "/admin/users?per_page=5"),
  ]);
  $("#figures").replaceChildren(...FIGURES.map(([key, label]) => h("li", {},
    h("span", { class: "value" }, `${figures[key]}${key === "users" && figures.users_estimated ? "≈" : ""}`),
    label)));
  $("#recent").replaceChildren(...recent.items.map(accountLine));
}

// --- users: search with keyset paging ----------------------------------------------

let filters = {};
let nextAfter = null;

async function showUsers(after = null) {
  const page = await api("GET", `/admin/users${query({ ...filters, per_page: 20, after })}`);
  nextAfter = page.next_after;
  $("#user-count").textContent = page.total === 0
    ? "No account matches."
    : `${page.total_estimated ? "About " : ""}${page.total} account${page.total === 1 ? "" : "s"} match.`;
  $("#user-list").replaceChildren(...page.items.map(accountLine));
  $("#users-next").hidden = !nextAfter;
  $("#users-first").hidden = after === null;
}

onSubmit($("#user-search"), async ({ q, role, disabled }) => {
  filters = { q: q.trim(), role, disabled };
  await showUsers();
});
$("#users-next").addEventListener("click", (event) =>
  withBusy(event.currentTarget, () => showUsers(nextAfter)));
$("#users-first").addEventListener("click", (event) =>
  withBusy(event.currentTarget, () => showUsers()));

onSubmit($("#invite"), async ({ username, email, role }, form) => {
  const user = await api("POST", "/admin/users", { username: username.trim(), email: email.trim(), role });
  form.reset();
  say(`Invitation sent to ${user.email}.`);
  await Promise.all([showDashboard(), showUsers()]);
});

// --- one account ------------------------------------------------------------------

let current = null;

function showUser(user) {
  current = user;
  const mfa = [user.mfa.totp ? "authenticator app" : null, user.mfa.passkeys ? `${user.mfa.passkeys} passkey(s)` : null]
    .filter(Boolean).join(", ") || "none";
  $("#detail-title").textContent = `Account ${user.username}`;
  $("#detail-facts").replaceChildren(
    h("dt", {}, "Username"), h("dd", {}, user.username),
    h("dt", {}, "Email"), h("dd", {}, user.email, " ", h("span", { class: "tag" }, user.email_verified ? "verified" : "not verified")),
    h("dt", {}, "Id"), h("dd", {}, h("code", {}, user.id)),
    h("dt", {}, "Role"), h("dd", {}, user.role),
    h("dt", {}, "State"), h("dd", {}, user.disabled ? "disabled" : "enabled"),
    h("dt", {}, "Two-factor"), h("dd", {}, mfa),
    h("dt", {}, "Joined"), h("dd", {}, when(user.created_at)),
    h("dt", {}, "Last login"), h("dd", {}, when(user.last_login_at)),
  );
  $("#detail-role-select").value = user.role;
  $("#detail-disable").textContent = user.disabled ? "Enable" : "Disable";
  $("#detail-disable").className = user.disabled ? "secondary" : "danger";
  $("#detail-mfa-reset").disabled = !user.mfa.totp && !user.mfa.passkeys;
  $("#user-detail").hidden = false;
}

async function openUser(id) {
  try {
    showUser(await api("GET", `/admin/users/${encodeURIComponent(id)}`));
    $("#detail-title").focus();
  } catch (error) {
    say(describe(error), true);
  }
}

onSubmit($("#detail-role"), async ({ role }) => {
  showUser(await api("PATCH", `/admin/users/${current.id}`, { role }));
  say(`${current.username} is now ${current.role}.`);
});

$("#detail-disable").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    showUser(await api("PATCH", `/admin/users/${current.id}`, { disabled: !current.disabled }));
    say(`${current.username} is ${current.disabled ? "disabled" : "enabled"}.`);
  }));

$("#detail-mfa-reset").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    await api("DELETE", `/admin/users/${current.id}/mfa`);
    showUser(await api("GET", `/admin/users/${current.id}`));
    say(`Two-factor of ${current.username} reset: no authenticator app, recovery code or passkey is left.`);
  }));

$("#detail-reset-link").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    await api("POST", `/admin/users/${current.id}/password-reset`);
    say(`A password reset link is on its way to ${current.email}.`);
  }));

$("#detail-events").addEventListener("click", (event) =>
  withBusy(event.currentTarget, async () => {
    $("#event-user").value = current.id;
    $("#event-type").value = "";
    eventFilters = { user_id: current.id };
    await showEvents(1);
    $("#events-title").scrollIntoView();
    say(`Events of ${current.username}.`);
  }));

// --- events ------------------------------------------------------------------------

let eventFilters = {};
let eventPage = 1;

async function showEvents(page) {
  const result = await api("GET", `/admin/events${query({ ...eventFilters, page, per_page: 20 })}`);
  eventPage = result.page;
  const pages = Math.max(1, Math.ceil(result.total / result.per_page));
  $("#event-count").textContent = `${result.total} event${result.total === 1 ? "" : "s"}, page ${eventPage} of ${pages}.`;
  $("#event-list").replaceChildren(...result.items.map((event) => h("li", {},
    h("span", { class: "what" }, h("strong", {}, event.type), " · ", when(event.occurred_at),
      h("small", {}, `account ${event.user_id ?? "none"}${event.actor_id ? ` · by ${event.actor_id}` : ""} · ${event.ip ?? "no address"}`),
      Object.keys(event.detail ?? {}).length > 0 ? h("pre", { class: "detail" }, JSON.stringify(event.detail)) : null))));
  $("#events-previous").hidden = eventPage <= 1;
  $("#events-next").hidden = eventPage >= pages;
}

onSubmit($("#event-filter"), async ({ user_id, type }) => {
  eventFilters = { user_id: user_id.trim(), type };
  await showEvents(1);
});
$("#events-next").addEventListener("click", (event) =>
  withBusy(event.currentTarget, () => showEvents(eventPage + 1)));
$("#events-previous").addEventListener("click", (event) =>
  withBusy(event.currentTarget, () => showEvents(eventPage - 1)));

// --- apps (OpenID clients) ---------------------------------------------------------

const lines = (text) => text.split("\n").map((line) => line.trim()).filter(Boolean);

function showSecret(app, secret) {
  $("#app-secret-title").textContent = `The secret of ${app.name}.`;
  $("#app-secret-value").textContent = secret;
  $("#app-secret").hidden = false;
  $("#app-secret").focus();
}

function appLine(app) {
  return h("li", {},
    h("span", { class: "what" },
      h("strong", {}, app.name), " ",
      h("span", { class: "tag" }, app.type),
      app.first_party ? h("span", { class: "tag" }, "first party") : null,
      h("small", {}, "client_id ", h("code", {}, app.client_id), " · registered ", when(app.created_at)),
      h("small", {}, `redirects to ${app.redirect_uris.join(", ")}`)),
    h("span", { class: "actions" },
      app.type === "confidential"
        ? h("button", {
          type: "button", class: "secondary", "aria-label": `New secret for ${app.name}`,
          onclick: (event) => withBusy(event.currentTarget, async () => {
            if (!confirm(`Give ${app.name} a new secret? The current one stops working at once.`)) return;
            const { client_secret } = await api("POST", `/admin/clients/${encodeURIComponent(app.client_id)}/secret`);
            showSecret(app, client_secret);
            say(`${app.name} has a new secret.`);
          }),
        }, "New secret")
        : null,
      h("button", {
        type: "button", class: "danger", "aria-label": `Delete ${app.name}`,
        onclick: (event) => withBusy(event.currentTarget, async () => {
          if (!confirm(`Delete ${app.name}? Everyone signed in to it through Portcullis is signed out of it.`)) return;
          await api("DELETE", `/admin/clients/${encodeURIComponent(app.client_id)}`);
          $("#app-secret").hidden = true;
          say(`${app.name} is deleted.`);
          await showApps();
        }),
      }, "Delete")));
}

async function showApps() {
  const apps = await api("GET", "/admin/clients");
  $("#app-count").textContent = apps.length === 0
    ? "No app signs in with Portcullis yet."
    : `${apps.length} app${apps.length === 1 ? "" : "s"}.`;
  $("#app-list").replaceChildren(...apps.map(appLine));
}

onSubmit($("#app-create"), async ({ name, type, redirect_uris, post_logout_redirect_uris, first_party }, form) => {
  const app = await api("POST", "/admin/clients", {
    name: name.trim(),
    type,
    redirect_uris: lines(redirect_uris),
    post_logout_redirect_uris: lines(post_logout_redirect_uris),
    first_party,
  });
  form.reset();
  await showApps();
  if (app.client_secret) showSecret(app, app.client_secret);
  say(`${app.name} is registered: its client_id is ${app.client_id}.`);
});

// --- start -------------------------------------------------------------------------

const me = await restoreSession();
if (!me) {
  toLogin();
} else if (me.role !== "admin") {
  say("This console is for administrators. Your account is not one.", true);
} else {
  try {
    await Promise.all([showDashboard(), showUsers(), showEvents(1), showApps()]);
    $("#console").hidden = false;
    say(`Logged in as ${me.username} (admin)`);
  } catch (error) {
    say(describe(error), true);
  }
}
