// Signing in with another provider, end to end in Debian's Chromium: the
// demo SPA's "Sign in with …" button, a real OpenID provider on loopback
// (oidc-provider-mock, PyPI), the callback, and the code exchanged with the
// client's PKCE verifier; then linking from the account page.
//
//   PORTCULLIS_BIN=target/release/portcullis \
//   PORTCULLIS_TEST_OIDC_PROVIDER=/path/to/oidc-provider-mock npm test
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchChromium } from "./support.mjs";

import { serve } from "../../examples/spa/serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, "../../target/browser-artifacts");
const binary = process.env.PORTCULLIS_BIN;
const providerProgram = process.env.PORTCULLIS_TEST_OIDC_PROVIDER || "oidc-provider-mock";
const password = "correct horse battery staple";
let spa;
let api = "";
let service;
let provider;
let issuer;
let browser;
let dataDir;

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not come up`);
}

before(async () => {
  assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
  const providerPort = await freePort();
  provider = spawn(providerProgram, ["-H", "127.0.0.1", "-p", String(providerPort)], {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: "ignore",
  });
  provider.on("error", (error) => {
    throw new Error(`cannot start ${providerProgram} (pip install oidc-provider-mock): ${error}`);
  });
  issuer = `http://127.0.0.1:${providerPort}`;
  await waitFor(`${issuer}/.well-known/openid-configuration`);

  spa = await serve({ api: () => api });
  const apiPort = await freePort();
  // The same site as the page (localhost); the provider sends the browser
  // back to this address.
  api = `http://localhost:${apiPort}`;
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-providers-"));
  mkdirSync(join(dataDir, "mail"), { mode: 0o700 });
  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dataDir, "browser.db")}`,
      BIND_ADDR: `127.0.0.1:${apiPort}`,
      PUBLIC_URL: api,
      CORS_ALLOWED_ORIGINS: spa.origin,
      APP_URL: spa.origin,
      RATE_LIMIT_PER_MINUTE: "0",
      PROVIDERS: "mock",
      PROVIDER_MOCK_ISSUER: issuer,
      PROVIDER_MOCK_CLIENT_ID: "portcullis-demo",
      PROVIDER_MOCK_CLIENT_SECRET: "demo-secret",
      PROVIDER_MOCK_NAME: "Mock ID",
      MAIL_URL: `file://${join(dataDir, "mail")}`,
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  service.on("exit", (code) => {
    if (code !== null && code !== 0) console.error(`portcullis exited with ${code}`);
  });
  await waitFor(`${api}/healthz`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  service?.kill();
  provider?.kill();
  spa?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function setUser(subject, claims) {
  const answer = await fetch(`${issuer}/users/${subject}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(claims),
  });
  assert.ok(answer.ok, `the provider took the user: ${answer.status}`);
}

/** Runs `body` with a fresh browser context; a failure leaves a screenshot. */
async function withPage(name, body) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    await body(page, errors);
  } catch (error) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}

async function assertStatus(page, text) {
  await page
    .waitForFunction(
      (expected) => document.getElementById("status")?.textContent?.includes(expected),
      text,
      { timeout: 15_000 },
    )
    .catch(async () => {
      throw new Error(`status is "${await page.locator("#status").textContent()}", expected "${text}"`);
    });
}

/** At the provider's page: sign in as `subject`. */
async function consentAs(page, subject) {
  await page.waitForURL((url) => url.href.startsWith(issuer), { timeout: 15_000 });
  await page.fill("input[name=sub]", subject);
  await page.locator("form:has(input[name=sub]) button[type=submit]").click();
}

test("a user signs in with the provider through the demo SPA, and comes back to the same account", async () => {
  await setUser("grace-1", {
    email: "grace@example.com",
    email_verified: true,
    preferred_username: "grace",
  });
  await withPage("provider-sign-in", async (page, errors) => {
    await page.goto(spa.origin);
    await assertStatus(page, "Not logged in");
    await page.getByRole("button", { name: "Sign in with Mock ID" }).click();
    await consentAs(page, "grace-1");
    await assertStatus(page, "Logged in as grace");
    assert.match(await page.locator("#me").textContent(), /"email_verified": true/);
    assert.match(await page.locator("#identities").textContent(), /mock: grace@example.com/);
    // The code is gone from the address bar, and a reload keeps the session
    // (the refresh cookie).
    assert.equal(new URL(page.url()).search, "");
    await page.reload();
    await assertStatus(page, "Logged in as grace");
    await page.click("#logout");
    await assertStatus(page, "Logged out");

    await page.getByRole("button", { name: "Sign in with Mock ID" }).click();
    await consentAs(page, "grace-1");
    await assertStatus(page, "Logged in as grace");
    assert.deepEqual(errors, []);
  });
});

test("an address an account has is refused, then linked by its owner from the account", async () => {
  await setUser("ada-elsewhere", {
    email: "ada@example.com",
    email_verified: true,
    preferred_username: "ada",
  });
  await withPage("provider-linking", async (page) => {
    await page.goto(spa.origin);
    await assertStatus(page, "Not logged in");
    await page.fill("#register [name=username]", "ada");
    await page.fill("#register [name=email]", "ada@example.com");
    await page.fill("#register [name=password]", password);
    await page.click("#register button");
    await assertStatus(page, "Registered");

    await page.getByRole("button", { name: "Sign in with Mock ID" }).click();
    await consentAs(page, "ada-elsewhere");
    await assertStatus(page, "account_exists");

    await page.fill("#login [name=email]", "ada@example.com");
    await page.fill("#login [name=password]", password);
    await page.click("#login button");
    await assertStatus(page, "Logged in as ada");
    await page.getByRole("button", { name: "Link Mock ID" }).click();
    await consentAs(page, "ada-elsewhere");
    await assertStatus(page, "Logged in as ada");
    assert.match(await page.locator("#identities").textContent(), /mock: ada@example.com/);

    await page.click("#logout");
    await assertStatus(page, "Logged out");
    await page.getByRole("button", { name: "Sign in with Mock ID" }).click();
    await consentAs(page, "ada-elsewhere");
    await assertStatus(page, "Logged in as ada");
  });
});

test("the built-in login page signs in with the provider and the account page lists the link", async () => {
  await setUser("lin-1", {
    email: "lin@example.com",
    email_verified: true,
    preferred_username: "lin",
  });
  await withPage("ui-provider-sign-in", async (page, errors) => {
    await page.goto(`${api}/ui/login`);
    await page.getByRole("button", { name: "Sign in with Mock ID" }).click();
    await consentAs(page, "lin-1");
    await page.waitForURL((url) => url.pathname === "/ui/account", { timeout: 15_000 });
    await assertStatus(page, "Logged in as lin");
    assert.doesNotMatch(page.url(), /code=/);
    const linked = page.locator("#identities");
    await linked.waitFor();
    assert.match(await linked.textContent(), /Mock ID/);
    assert.match(await linked.textContent(), /lin@example.com/);
    assert.deepEqual(errors, []);
  });
});
