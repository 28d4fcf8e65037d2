// Real-browser tests: the demo SPA (examples/spa) in Debian's Chromium against
// the release binary, in cookie mode; and Swagger UI under the service's CSP.
//
//   PORTCULLIS_BIN=target/release/portcullis npm test   (after `npm run build`
//   in clients/typescript; .ci/run does both)
//
// A failing test leaves a screenshot in target/browser-artifacts/.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchChromium } from "./support.mjs";

import { serve } from "../../examples/spa/serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, "../../target/browser-artifacts");
const binary = process.env.PORTCULLIS_BIN;
const password = "correct horse battery staple";
let api = "";
let spa;
let service;
let browser;
let dataDir;

before(async () => {
  assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
  spa = await serve({ api: () => api });
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-browser-"));
  mkdirSync(join(dataDir, "mail"), { mode: 0o700 });
  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dataDir, "browser.db")}`,
      BIND_ADDR: "127.0.0.1:0",
      CORS_ALLOWED_ORIGINS: spa.origin,
      // Passkeys are made for the page's origin (relying party: localhost).
      APP_URL: spa.origin,
      RATE_LIMIT_PER_MINUTE: "0",
      // Sign-in by email, its mail written as .eml files the test reads.
      EMAIL_LOGIN: "on",
      MAIL_URL: `file://${join(dataDir, "mail")}`,
      MAIL_MIN_INTERVAL: "0",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    let seen = "";
    service.stdout.on("data", (chunk) => {
      seen += chunk;
      const ready = /ready at http:\/\/[^:]+:(\d+)/.exec(seen);
      if (ready) resolve(ready[1]);
    });
    service.on("exit", (code) => reject(new Error(`portcullis exited with ${code}`)));
  });
  // The same site as the page (localhost), so the SameSite=Strict cookie flows.
  api = `http://localhost:${port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  service?.kill();
  spa?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `body` with a fresh browser context; a failure leaves a screenshot. */
async function withPage(name, body) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    await body(page, context, errors);
  } catch (error) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}

const statusOf = (page) => page.locator("#status");

async function registerAndLogIn(page, username) {
  await page.goto(spa.origin);
  await assertStatus(page, "Not logged in");
  await page.fill("#register [name=username]", username);
  await page.fill("#register [name=email]", `${username}@example.com`);
  await page.fill("#register [name=password]", password);
  await page.click("#register button");
  await assertStatus(page, "Registered");
  await page.fill("#login [name=email]", `${username}@example.com`);
  await page.fill("#login [name=password]", password);
  await page.click("#login button");
  await assertStatus(page, `Logged in as ${username}`);
}

async function assertStatus(page, text) {
  await page.waitForFunction(
    (expected) => document.getElementById("status")?.textContent?.includes(expected),
    text,
    { timeout: 10_000 },
  ).catch(async () => {
    throw new Error(`status is "${await statusOf(page).textContent()}", expected "${text}"`);
  });
}

test("the demo's journey in cookie mode: register, log in, sessions, change password, log out", async () => {
  await withPage("journey", async (page, _context, errors) => {
    await registerAndLogIn(page, "ada");
    assert.match(await page.locator("#me").textContent(), /"username": "ada"/);
    assert.equal(await page.locator("#sessions li").count(), 1);

    await page.fill("#change-password [name=current_password]", password);
    await page.fill("#change-password [name=new_password]", "a brand new passphrase");
    await page.click("#change-password button");
    await assertStatus(page, "Password changed");

    await page.click("#logout");
    await assertStatus(page, "Logged out");
    await page.reload();
    await assertStatus(page, "Not logged in");
    assert.deepEqual(errors, []);
  });
});

test("a reload keeps the user logged in through the cookie", async () => {
  await withPage("reload", async (page) => {
    await registerAndLogIn(page, "grace");
    await page.reload();
    await assertStatus(page, "Logged in as grace");
  });
});

test("the refresh token is out of the script's reach", async () => {
  await withPage("unreadable", async (page, context) => {
    await registerAndLogIn(page, "linus");
    const visible = await page.evaluate(
      () => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage),
    );
    // Only the hint (`portcullis_refresh_hint=1`, no secret) is readable.
    assert.ok(!visible.includes("portcullis_refresh=") && !visible.includes("eyJ"), visible);
    assert.match(visible, /portcullis_refresh_hint=1/);
    const cookie = (await context.cookies(`${api}/token/refresh`)).find((c) => c.name === "portcullis_refresh");
    assert.ok(cookie, "the browser holds the refresh cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/token");
  });
});

test("a page on a disallowed origin cannot refresh", async () => {
  // Another site (127.0.0.1 is not localhost) that is not in CORS_ALLOWED_ORIGINS.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title>");
  });
  await new Promise((resolve) => evil.listen(0, "127.0.0.1", resolve));
  try {
    await withPage("disallowed-origin", async (page) => {
      await registerAndLogIn(page, "mallory_target");
      await page.goto(`http://127.0.0.1:${evil.address().port}/`);
      const outcomes = await page.evaluate(async (api) => {
        const attempt = async (headers) => {
          try {
            const response = await fetch(`${api}/token/refresh`, {
              method: "POST",
              credentials: "include",
              headers,
            });
            return `status ${response.status}`;
          } catch (error) {
            return `blocked: ${error.name}`;
          }
        };
        return [await attempt({ "X-Requested-With": "portcullis" }), await attempt({})];
      }, api);
      // With the CSRF header the preflight fails; without it the request is
      // refused (no cookie crosses sites, no CORS headers either way).
      for (const outcome of outcomes) assert.match(outcome, /^blocked/, outcomes.join(", "));
      await page.goto(spa.origin);
      await assertStatus(page, "Logged in as mallory_target");
    });
  } finally {
    evil.close();
  }
});

test("two tabs refreshing at once both stay logged in", async () => {
  await withPage("two-tabs", async (page, context) => {
    await registerAndLogIn(page, "twotabs");
    const other = await context.newPage();
    await Promise.all([page.reload(), other.goto(spa.origin)]);
    await assertStatus(page, "Logged in as twotabs");
    await assertStatus(other, "Logged in as twotabs");
    await page.reload();
    await assertStatus(page, "Logged in as twotabs");
  });
});

test("a passkey: added in Chromium's virtual authenticator, then logging in with it (usernameless, by email, and as the second step of a password login)", async () => {
  await withPage("passkey", async (page, context, errors) => {
    // A platform authenticator with resident keys and user verification
    // (Touch ID, Windows Hello), answering without a prompt.
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
    await registerAndLogIn(page, "hopper");
    await page.fill("#add-passkey [name=name]", "Virtual authenticator");
    await page.fill("#add-passkey [name=password]", password);
    await page.click("#add-passkey button");
    await assertStatus(page, "Passkey added");
    assert.match(await page.locator("#passkeys").textContent(), /Virtual authenticator/);
    assert.match(await page.locator("#me").textContent(), /"passkeys": 1/);
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true, "a discoverable credential");

    await page.click("#logout");
    await assertStatus(page, "Logged out");
    // No email: the browser offers the passkeys it has for this site.
    await page.click("#passkey-login button");
    await assertStatus(page, "Logged in as hopper");

    await page.click("#logout");
    await assertStatus(page, "Logged out");
    await page.fill("#passkey-login [name=email]", "hopper@example.com");
    await page.click("#passkey-login button");
    await assertStatus(page, "Logged in as hopper");
    // The session survives a reload like a password login's.
    await page.reload();
    await assertStatus(page, "Logged in as hopper");
    const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.ok(after.credentials[0].signCount >= 2, "each login was signed by the authenticator");

    // The passkey now guards the password too: the password login asks for
    // it as the second step (no code field: the account has no TOTP).
    await page.click("#logout");
    await assertStatus(page, "Logged out");
    await page.fill("#login [name=email]", "hopper@example.com");
    await page.fill("#login [name=password]", password);
    await page.click("#login button");
    await assertStatus(page, "Confirm with your passkey");
    assert.equal(await page.locator("#mfa-code").isHidden(), true);
    await page.click("#mfa-passkey");
    await assertStatus(page, "Logged in as hopper");
    const last = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.ok(last.credentials[0].signCount > after.credentials[0].signCount, "the second step was signed");
    assert.deepEqual(errors, []);
  });
});

test("Swagger UI loads under the service's CSP, and Try it out works on GET /me after Authorize", async () => {
  const post = (path, body) =>
    fetch(`${api}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  await post("/register", { username: "swagger", email: "swagger@example.com", password });
  const { access_token } = await (await post("/login", { username: "swagger", password })).json();

  await withPage("swagger-ui", async (page, _context, errors) => {
    const consoleErrors = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    await page.goto(`${api}/docs/`);
    await page.waitForSelector(".opblock", { timeout: 15_000 });
    assert.ok((await page.locator(".opblock").count()) > 20);

    await page.click("button.authorize");
    await page.fill(".auth-container input", access_token);
    await page.click(".auth-btn-wrapper button.authorize");
    await page.click(".auth-btn-wrapper button.btn-done");
    await page.click("#operations-account-get_me .opblock-summary");
    await page.click("#operations-account-get_me button.try-out__btn");
    await page.click("#operations-account-get_me button.execute");
    const status = page.locator("#operations-account-get_me .live-responses-table tbody .response-col_status");
    await status.first().waitFor({ timeout: 10_000 });
    assert.equal((await status.first().textContent()).trim(), "200");
    const body = await page.locator("#operations-account-get_me .live-responses-table .microlight").first().textContent();
    assert.match(body, /"username": "swagger"/);
    assert.deepEqual([...errors, ...consoleErrors], []);
  });
});

/** The newest message to `recipient` (an .eml file of MAIL_URL=file://),
 * decoded, written after `after` and matching `wanted` (the verification mail
 * of a registration goes out on its own time, and may land after `after`). */
async function newestMailTo(recipient, after, wanted = /./) {
  const dir = join(dataDir, "mail");
  for (let waited = 0; waited < 10_000; waited += 100) {
    const messages = readdirSync(dir)
      .map((name) => join(dir, name))
      .filter((path) => statSync(path).mtimeMs > after)
      .map((path) => readFileSync(path, "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "="))
      .filter((message) => message.includes(`To: ${recipient}`) && wanted.test(message));
    if (messages.length > 0) return messages[messages.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${recipient}`);
}

test("signing in by email: the mailed code typed in, then the mailed link opened", async () => {
  await withPage("email-login", async (page, _context, errors) => {
    await page.goto(spa.origin);
    await assertStatus(page, "Not logged in");
    await page.fill("#register [name=username]", "lamarr");
    await page.fill("#register [name=email]", "lamarr@example.com");
    await page.fill("#register [name=password]", password);
    await page.click("#register button");
    await assertStatus(page, "Registered");

    let since = Date.now() - 1;
    await page.fill("#email-login [name=email]", "lamarr@example.com");
    await page.click("#email-login button");
    await assertStatus(page, "Check your mail");
    const first = await newestMailTo("lamarr@example.com", since, /^\s*\d{6}\s*$/m);
    const code = /^\s*(\d{6})\s*$/m.exec(first)?.[1];
    assert.ok(code, "a 6-digit code in the mail");
    await page.fill("#email-code [name=code]", code);
    await page.click("#email-code button");
    await assertStatus(page, "Logged in as lamarr");
    assert.match(await page.locator("#me").textContent(), /"email_verified": true/);

    await page.click("#logout");
    await assertStatus(page, "Logged out");
    since = Date.now() - 1;
    await page.fill("#email-login [name=email]", "lamarr@example.com");
    await page.click("#email-login button");
    await assertStatus(page, "Check your mail");
    const second = await newestMailTo("lamarr@example.com", since);
    const link = /(http:\/\/localhost:\d+\/\?sign-in=?&token=[A-Za-z0-9_-]+)/.exec(second)?.[1];
    assert.ok(link, `a link back to the page in ${second}`);
    await page.goto(link);
    await assertStatus(page, "Logged in as lamarr");
    assert.equal(new URL(page.url()).search, "", "the token left the address bar");
    // The session survives a reload like any other.
    await page.reload();
    await assertStatus(page, "Logged in as lamarr");
    assert.deepEqual(errors, []);
  });
});
