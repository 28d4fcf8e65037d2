// The built-in web interface (/ui/…) in Debian's Chromium against the release
// binary: a user's whole journey through the account console, an admin's
// through the admin console, axe-core on every page and state reached (light
// and dark, desktop and 360 px), and screenshots of each written to
// target/browser-artifacts/ui/ (CI keeps that folder; git ignores it).
//
//   PORTCULLIS_BIN=target/release/portcullis npm test
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchChromium, totp } from "./support.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const artifacts = join(here, "../../target/browser-artifacts/ui");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const binary = process.env.PORTCULLIS_BIN;
const password = "correct horse battery staple";
const adminPassword = "the admin's own long passphrase";
let origin = "";
let service;
let browser;
let dataDir;
let env;

/** A free local port (WebAuthn needs the page's origin before the service starts). */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-ui-"));
  mkdirSync(join(dataDir, "mail"), { mode: 0o700 });
  const port = await freePort();
  origin = `http://localhost:${port}`;
  env = {
    ...process.env,
    DATABASE_URL: `sqlite://${join(dataDir, "ui.db")}`,
    BIND_ADDR: `127.0.0.1:${port}`,
    // Passkeys are made for the pages' own origin (relying party: localhost).
    APP_URL: origin,
    // The mailed links lead to the built-in pages.
    PASSWORD_RESET_URL: `${origin}/ui/reset?token={token}`,
    EMAIL_VERIFICATION_URL: `${origin}/ui/verify?token={token}`,
    RATE_LIMIT_PER_MINUTE: "0",
    MAIL_URL: `file://${join(dataDir, "mail")}`,
    MAIL_MIN_INTERVAL: "0",
    MAIL_POLL_INTERVAL_MS: "100",
    ARGON2_MEMORY_KIB: "4096",
    ARGON2_ITERATIONS: "1",
    RUST_LOG: "warn",
  };
  const created = spawnSync(
    binary,
    ["create-admin", "--username", "root", "--email", "root@example.com", "--password-stdin"],
    { env, input: `${adminPassword}\n`, encoding: "utf8" },
  );
  assert.equal(created.status, 0, created.stderr);
  service = spawn(binary, ["serve"], { env, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve, reject) => {
    let seen = "";
    service.stdout.on("data", (chunk) => {
      seen += chunk;
      if (/ready at http/.test(seen)) resolve();
    });
    service.on("exit", (code) => reject(new Error(`portcullis exited with ${code}`)));
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  service?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A fresh context and page; CSP reports and script errors fail the test; a failure leaves a screenshot. */
async function withPage(name, body) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (message) => {
    // A 4xx answer the page handles is logged by Chromium as a failed load; CSP refusals are errors too.
    if (message.type() === "error" && !/status of (4\d\d)/.test(message.text())) problems.push(message.text());
  });
  try {
    await body(page, context);
    assert.deepEqual(problems, [], "no script error and no CSP refusal");
  } catch (error) {
    await page.screenshot({ path: join(artifacts, `FAILED-${name}.png`), fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}

async function axe(page, label) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axeSource);
  const summary = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document);
    return violations.map(
      (violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`,
    );
  });
  assert.deepEqual(summary, [], `axe-core on ${label}`);
}

/**
 * The checks every page and state gets: axe-core in light and dark at desktop
 * width and at 360 px, no horizontal scrolling at 360 px, and screenshots.
 */
async function check(page, name) {
  await page.evaluate(() => document.fonts.ready);
  await axe(page, `${name} (desktop, light)`);
  await page.screenshot({ path: join(artifacts, `${name}-desktop.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: "dark" });
  await axe(page, `${name} (desktop, dark)`);
  await page.screenshot({ path: join(artifacts, `${name}-desktop-dark.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 360, height: 740 });
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(widths[0] <= widths[1], `${name} scrolls sideways at 360 px: ${widths}`);
  await axe(page, `${name} (360 px)`);
  await page.screenshot({ path: join(artifacts, `${name}-360.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function statusSays(page, text) {
  await page
    .waitForFunction(
      (expected) => document.getElementById("status")?.textContent?.includes(expected),
      text,
      { timeout: 10_000 },
    )
    .catch(async () => {
      throw new Error(`status is "${await page.locator("#status").textContent()}", expected "${text}"`);
    });
}

/** The newest message to `recipient` written after `since` (MAIL_URL=file://), decoded. */
async function mailTo(recipient, since) {
  const dir = join(dataDir, "mail");
  for (let waited = 0; waited < 10_000; waited += 100) {
    const messages = readdirSync(dir)
      .map((name) => join(dir, name))
      .filter((path) => statSync(path).mtimeMs >= since)
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
      .map((path) => readFileSync(path, "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "="))
      .filter((message) => message.includes(`To: ${recipient}`));
    if (messages.length > 0) return messages[messages.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${recipient}`);
}

function linkIn(message, page) {
  const link = new RegExp(`(${origin}/ui/${page}\\?token=[A-Za-z0-9_%-]+)`).exec(message)?.[1];
  assert.ok(link, `a /ui/${page} link in ${message}`);
  return link;
}

async function api(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${origin}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function addVirtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

test("the vendored QR encoder is the published qrcode-generator file, byte for byte", () => {
  const published = readFileSync(join(here, "node_modules/qrcode-generator/dist/qrcode.mjs"));
  const vendored = readFileSync(join(here, "../../src/web/ui/assets/vendor/qrcode-generator.mjs"));
  assert.ok(published.equals(vendored));
});

test("a user registers, verifies the address, adds TOTP and a passkey, logs in with each, ends a session and deletes the account", async () => {
  await withPage("user-journey", async (page, context) => {
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);

    // Registration, with the API's field error shown beside its field first.
    await page.goto(`${origin}/ui/register`);
    await check(page, "register");
    await page.fill("#register-username", "ada");
    await page.fill("#register-email", "ada@example.com");
    await page.fill("#register-password", "short");
    await page.click("#register button[type=submit]");
    await page.locator("#register-password-error").waitFor();
    assert.equal(await page.getAttribute("#register-password", "aria-invalid"), "true");
    assert.match(await page.getAttribute("#register-password", "aria-describedby"), /register-password-error/);
    await check(page, "register-field-error");
    const since = Date.now() - 1;
    await page.fill("#register-password", password);
    await page.click("#register button[type=submit]");
    await page.waitForURL(/\/ui\/account/);
    await statusSays(page, "Welcome, ada");
    assert.equal(await page.locator("#me-username").textContent(), "ada");
    assert.equal(await page.locator("#me-email").textContent(), "ada@example.com");
    assert.equal(await page.locator("#me-verified").textContent(), "not verified");
    await check(page, "account");

    // The verification mail's link opens the built-in page.
    await page.goto(linkIn(await mailTo("ada@example.com", since), "verify"));
    await statusSays(page, "verified");
    assert.ok(!page.url().includes("token="), "the token left the address bar");
    await check(page, "verify");
    await page.goto(`${origin}/ui/account`);
    await statusSays(page, "Logged in as ada");
    assert.equal(await page.locator("#me-verified").textContent(), "verified");

    // TOTP: the QR code in the page, the first code, the recovery codes once.
    await page.fill("#totp-start-password", password);
    await page.click("#totp-start button[type=submit]");
    await page.locator("#totp-qr svg[role=img]").waitFor();
    const secret = (await page.locator("#totp-secret").textContent()).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await check(page, "account-totp-qr");
    await page.fill("#totp-confirm-code", totp(secret));
    await page.click("#totp-confirm button[type=submit]");
    await page.locator("#recovery-codes li").first().waitFor();
    const recoveryCodes = await page.locator("#recovery-codes li").allTextContents();
    assert.equal(recoveryCodes.length, 10);
    await check(page, "account-recovery-codes");
    await page.click("#recovery-done");
    assert.equal(await page.locator("#recovery-codes li").count(), 0, "shown only once");
    assert.match(await page.locator("#totp-state").textContent(), /^On\. 10 recovery codes left/);

    // A passkey: this session was opened with the password alone, so the API
    // asks for a step-up, answered in the page with a recovery code.
    await page.fill("#passkey-name", "Laptop");
    await page.fill("#passkey-password", password);
    await page.click("#add-passkey button[type=submit]");
    await page.locator("#step-up[open]").waitFor();
    await check(page, "account-step-up");
    await page.fill("#step-up-password", password);
    await page.fill("#step-up-code", recoveryCodes[0]);
    await page.click("#step-up-form button[type=submit]");
    await statusSays(page, "Passkey Laptop added");
    assert.match(await page.locator("#passkeys").textContent(), /Laptop/);
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1);
    // The step-up's new session replaced the old one.
    assert.equal(await page.locator("#session-list li").count(), 1);

    // A reload restores the session from the HttpOnly cookie.
    await page.reload();
    await statusSays(page, "Logged in as ada");

    // Log out, then in with the password and the next TOTP code.
    await page.click("#logout");
    await page.waitForURL(/\/ui\/login/);
    await check(page, "login");
    await page.fill("#login-identifier", "ada@example.com");
    await page.fill("#login-password", "not the password");
    await page.click("#login button[type=submit]");
    await page.locator("#login-password-error").waitFor();
    await check(page, "login-error");
    await page.fill("#login-password", password);
    await page.click("#login button[type=submit]");
    await statusSays(page, "Enter your second factor");
    assert.equal(await page.locator("#mfa-passkey").isVisible(), true, "the passkey is offered too");
    await check(page, "login-second-step");
    await page.fill("#mfa-code", totp(secret, Date.now() + 30_000));
    await page.click("#mfa-submit");
    await page.waitForURL(/\/ui\/account/);
    await statusSays(page, "Logged in as ada");

    // Log out, then in with the passkey alone.
    await page.click("#logout");
    await page.waitForURL(/\/ui\/login/);
    await page.click("#passkey-login");
    await page.waitForURL(/\/ui\/account/);
    await statusSays(page, "Logged in as ada");

    // Another device's session (made through the API), ended from the page.
    const first = await api("POST", "/login", { username: "ada", password });
    assert.equal(first.body.code, "mfa_required");
    const other = await api("POST", "/login/mfa", { mfa_token: first.body.mfa_token, recovery_code: recoveryCodes[1] });
    assert.equal(other.status, 200);
    await page.reload();
    await statusSays(page, "Logged in as ada");
    assert.equal(await page.locator("#session-list li").count(), 2);
    await check(page, "account-sessions");
    await page.click("#session-list li button");
    await statusSays(page, "Session ended");
    assert.equal(await page.locator("#session-list li").count(), 1);
    assert.equal((await api("GET", "/me", undefined, other.body.access_token)).status, 401);

    // Delete the account.
    await page.fill("#delete-password", password);
    await page.click("#delete-account button[type=submit]");
    await page.locator("#delete-account .form-error:not(:empty)").waitFor();
    await page.check("#delete-confirm");
    await page.click("#delete-account button[type=submit]");
    await page.waitForURL(/\/ui\/login\?deleted/);
    await statusSays(page, "Your account was deleted");
    assert.equal((await api("POST", "/login", { username: "ada", password })).body.code, "invalid_credentials");
  });
});

test("forgot password: the mailed link opens the reset page, and the new password logs in", async () => {
  await api("POST", "/register", { username: "grace", email: "grace@example.com", password });
  await withPage("forgot-reset", async (page) => {
    await page.goto(`${origin}/ui/forgot`);
    await check(page, "forgot");
    const since = Date.now() - 1;
    await page.fill("#forgot-email", "grace@example.com");
    await page.click("#forgot button[type=submit]");
    await statusSays(page, "Check your mail");
    await page.goto(linkIn(await mailTo("grace@example.com", since), "reset"));
    assert.ok(!page.url().includes("token="), "the token left the address bar");
    await check(page, "reset");
    await page.fill("#reset-password", "grace's brand new passphrase");
    await page.click("#reset button[type=submit]");
    await page.waitForURL(/\/ui\/login\?reset/);
    await page.fill("#login-identifier", "grace");
    await page.fill("#login-password", "grace's brand new passphrase");
    await page.click("#login button[type=submit]");
    await page.waitForURL(/\/ui\/account/);
    await statusSays(page, "Logged in as grace");
  });
});

test("an admin finds a user among many, resets their two-factor, sends a reset link, disables them and reads the events", async () => {
  // Many accounts (more than a page), and the one to find, with TOTP on.
  for (let batch = 0; batch < 5; batch += 1) {
    await Promise.all(
      Array.from({ length: 6 }, (_, index) => {
        const n = String(batch * 6 + index).padStart(2, "0");
        return api("POST", "/register", { username: `member${n}`, email: `member${n}@example.com`, password });
      }),
    );
  }
  assert.equal((await api("POST", "/register", { username: "target", email: "target@example.com", password })).status, 201);
  const session = (await api("POST", "/login", { username: "target", password })).body;
  const enrollment = (await api("POST", "/me/mfa/totp", { password }, session.access_token)).body;
  const confirmed = await api("POST", "/me/mfa/totp/confirm", { code: totp(enrollment.secret) }, session.access_token);
  assert.equal(confirmed.status, 200);

  await withPage("admin", async (page) => {
    const adminCalls = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/admin")) adminCalls.push(request.url());
    });
    await page.goto(`${origin}/ui/admin`);
    await page.waitForURL(/\/ui\/login\?next=/);
    await page.fill("#login-identifier", "root");
    await page.fill("#login-password", adminPassword);
    await page.click("#login button[type=submit]");
    await page.waitForURL(/\/ui\/admin$/);
    await statusSays(page, "Logged in as root (admin)");
    assert.ok(Number(await page.locator("#figures li .value").first().textContent()) >= 32);
    assert.match(await page.locator("#recent").textContent(), /target.*target@example\.com/s);
    await check(page, "admin");

    // Keyset paging through all accounts.
    const firstPage = await page.locator("#user-list li").allTextContents();
    assert.equal(firstPage.length, 20);
    await page.click("#users-next");
    await page.locator("#users-first").waitFor();
    const secondPage = await page.locator("#user-list li").allTextContents();
    assert.ok(secondPage.length > 0 && !secondPage.some((line) => firstPage.includes(line)));

    // Search, then the account.
    await page.fill("#search-q", "target@");
    await page.click("#user-search button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#user-list li").length === 1);
    await page.click("#user-list li button");
    await page.locator("#user-detail:not([hidden])").waitFor();
    assert.match(await page.locator("#detail-facts").textContent(), /authenticator app/);
    await check(page, "admin-user");

    await page.click("#detail-mfa-reset");
    await statusSays(page, "Two-factor of target reset");
    assert.equal((await api("POST", "/login", { username: "target", password })).status, 200, "no second step now");

    const since = Date.now() - 1;
    await page.click("#detail-reset-link");
    await statusSays(page, "password reset link is on its way");
    linkIn(await mailTo("target@example.com", since), "reset");

    await page.click("#detail-disable");
    await statusSays(page, "target is disabled");
    assert.equal((await api("POST", "/login", { username: "target", password })).body.code, "account_disabled");

    await page.click("#detail-events");
    await statusSays(page, "Events of target");
    const events = await page.locator("#event-list").textContent();
    for (const type of ["user_disabled", "mfa_disabled", "password_reset_requested", "mfa_enabled", "user_registered"]) {
      assert.ok(events.includes(type), `${type} in ${events}`);
    }
    await check(page, "admin-events");

    // The events filter by type.
    await page.fill("#event-user", "");
    await page.selectOption("#event-type", "user_registered");
    await page.click("#event-filter button[type=submit]");
    await page.waitForFunction(() => /page 1 of 2/.test(document.getElementById("event-count").textContent));
    assert.ok(!(await page.locator("#event-list").textContent()).includes("user_disabled"));

    // An invitation.
    const invited = Date.now() - 1;
    await page.fill("#invite-username", "newcomer");
    await page.fill("#invite-email", "newcomer@example.com");
    await page.click("#invite button[type=submit]");
    await statusSays(page, "Invitation sent to newcomer@example.com");
    linkIn(await mailTo("newcomer@example.com", invited), "reset");
    assert.ok(adminCalls.length > 0);
  });
});

/** Whether the client id and secret authenticate at the token endpoints (introspection answers 200, not 401). */
async function secretWorks(clientId, secret) {
  const response = await fetch(`${origin}/oauth2/introspect`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: "token=not-a-token",
  });
  if (response.status === 200) {
    assert.equal((await response.json()).active, false);
    return true;
  }
  assert.equal(response.status, 401);
  return false;
}

test("an admin registers apps, gives one a new secret and deletes it; the event filter lists every event type", async () => {
  await withPage("admin-apps", async (page) => {
    page.on("dialog", (dialog) => dialog.accept());
    await page.goto(`${origin}/ui/login?next=/ui/admin`);
    await page.fill("#login-identifier", "root");
    await page.fill("#login-password", adminPassword);
    await page.click("#login button[type=submit]");
    await page.waitForURL(/\/ui\/admin$/);
    await statusSays(page, "Logged in as root (admin)");
    const types = await page.locator("#event-type option").evaluateAll((options) => options.map((option) => option.value));
    for (const type of ["user_registered", "oauth_client_created", "email_login_requested"]) {
      assert.ok(types.includes(type), `${type} among ${types}`);
    }

    // A confidential app: its secret is shown once, and works.
    await page.fill("#app-name", "Team wiki");
    await page.selectOption("#app-type", "confidential");
    await page.fill("#app-redirect-uris", "https://wiki.example.com/callback\n  https://wiki.example.com/other  \n");
    await page.click("#app-create button[type=submit]");
    await statusSays(page, "Team wiki is registered");
    const first = await page.locator("#app-secret-value").textContent();
    assert.match(first, /^[A-Za-z0-9_-]{43}$/);
    const line = page.locator("#app-list li", { hasText: "Team wiki" });
    const clientId = await line.locator("code").textContent();
    assert.match(await line.textContent(), /confidential.*https:\/\/wiki\.example\.com\/callback, https:\/\/wiki\.example\.com\/other/s);
    assert.ok(await secretWorks(clientId, first));
    await check(page, "admin-apps");

    // A new secret replaces the old one at once.
    await line.getByRole("button", { name: "New secret for Team wiki" }).click();
    await statusSays(page, "Team wiki has a new secret");
    const second = await page.locator("#app-secret-value").textContent();
    assert.notEqual(second, first);
    assert.ok(!(await secretWorks(clientId, first)), "the old secret no longer works");
    assert.ok(await secretWorks(clientId, second));

    // A public first-party app: no secret, no "New secret" button.
    await page.fill("#app-name", "Team SPA");
    await page.fill("#app-redirect-uris", "https://spa.example.com/");
    await page.check("#app-first-party");
    await page.click("#app-create button[type=submit]");
    await statusSays(page, "Team SPA is registered");
    const spa = page.locator("#app-list li", { hasText: "Team SPA" });
    assert.match(await spa.textContent(), /public.*first party/s);
    assert.equal(await spa.getByRole("button", { name: /New secret/ }).count(), 0);
    assert.equal(await page.locator("#app-count").textContent(), "2 apps.");

    // A bad redirect URI is named beside its field.
    await page.fill("#app-name", "Broken");
    await page.fill("#app-redirect-uris", "http://example.com/not-https");
    await page.click("#app-create button[type=submit]");
    await page.locator("#app-create .form-error:not(:empty), #app-create .field-error").first().waitFor();
    assert.equal(await page.locator("#app-list li").count(), 2);

    // Deleting ends it: its secret stops working.
    await line.getByRole("button", { name: "Delete Team wiki" }).click();
    await statusSays(page, "Team wiki is deleted");
    assert.equal(await page.locator("#app-list li").count(), 1);
    assert.ok(!(await secretWorks(clientId, second)));
    const events = await api("GET", "/admin/events?type=oauth_client_deleted", undefined,
      (await api("POST", "/login", { username: "root", password: adminPassword })).body.access_token);
    assert.equal(events.body.total, 1);
  });
});

test("a non-admin opening the admin console sees a notice and no account, and no admin call is made", async () => {
  await withPage("not-admin", async (page) => {
    const adminCalls = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/admin")) adminCalls.push(request.url());
    });
    await page.goto(`${origin}/ui/login?next=/ui/admin`);
    await page.fill("#login-identifier", "member00");
    await page.fill("#login-password", password);
    await page.click("#login button[type=submit]");
    await page.waitForURL(/\/ui\/admin$/);
    await statusSays(page, "This console is for administrators");
    assert.equal(await page.locator("#console").isHidden(), true);
    assert.equal(await page.locator("#user-list li").count(), 0);
    assert.deepEqual(adminCalls, []);
    await check(page, "admin-not-admin");
  });
});

test("the pages work by keyboard alone: tab to the fields, type, Enter submits, focus is visible", async () => {
  await withPage("keyboard", async (page) => {
    await page.goto(`${origin}/ui/login`);
    await page.keyboard.press("Tab"); // the skip link
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "login-identifier");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, "solid", "a visible focus ring");
    await page.keyboard.type("member01");
    await page.keyboard.press("Tab");
    await page.keyboard.type(password);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/ui\/account/);
    await statusSays(page, "Logged in as member01");
  });
});
