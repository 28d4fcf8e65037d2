// "Sign in with Portcullis" in Debian's Chromium: a demo app on its own
// origin (examples/oidc-spa) signs its user in with oidc-client-ts through
// the built-in login page (/ui/login?request_id=…), which logs in, asks for
// consent and sends the browser back; the next sign-in is single sign-on,
// and signing out at the provider ends it.
//
//   PORTCULLIS_BIN=target/release/portcullis npm test
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { launchChromium } from "./support.mjs";
import { serve } from "../../examples/oidc-spa/serve.mjs";

const binary = process.env.PORTCULLIS_BIN;
const password = "correct horse battery staple";
let service;
let browser;
let app;
let api = "";
let clientId = "";
let dataDir;

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
  app = await serve({ settings: () => ({ issuer: api, clientId }) });
  const apiPort = await freePort();
  // localhost: a secure context, where Chromium keeps Secure cookies over http.
  api = `http://localhost:${apiPort}`;
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-oauth-"));
  const database = `sqlite://${join(dataDir, "oauth.db")}`;
  const env = { ...process.env, DATABASE_URL: database, RUST_LOG: "warn" };
  const made = execFileSync(
    binary,
    [
      "client", "create", "--name", "Demo app", "--type", "public",
      "--redirect-uri", `${app.origin}/callback.html`,
      "--post-logout-redirect-uri", `${app.origin}/`,
    ],
    { env },
  );
  clientId = JSON.parse(made.toString()).client_id;
  service = spawn(binary, ["serve"], {
    env: {
      ...env,
      BIND_ADDR: `127.0.0.1:${apiPort}`,
      PUBLIC_URL: api,
      CORS_ALLOWED_ORIGINS: app.origin,
      RATE_LIMIT_PER_MINUTE: "0",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(`${api}/healthz`);
  const registered = await fetch(`${api}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "ada", email: "ada@example.com", password }),
  });
  assert.equal(registered.status, 201);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  service?.kill();
  app?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A fresh context and page; a script error on the page fails the test. */
async function withPage(body) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  try {
    await body(page);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

/**
 * From the demo app, "Sign in with Portcullis", then Ada's password on
 * Portcullis' login page (`onTheLoginPage` runs there first).
 */
async function logInThroughTheLoginPage(page, onTheLoginPage = async () => {}) {
  await page.goto(`${app.origin}/`);
  await page.getByRole("button", { name: "Sign in with Portcullis" }).click();
  await page.waitForURL(`${api}/ui/login?request_id=*`);
  await onTheLoginPage();
  await page.getByLabel("Email or username").fill("ada@example.com");
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
}

test("a demo app signs its user in through the built-in login page with oidc-client-ts, then by single sign-on", async () => {
  await withPage(async (page) => {
    // Portcullis' login page says which app asks.
    await logInThroughTheLoginPage(page, () => page.getByText("Demo app asks you to log in.").waitFor());

    // A third-party app: consent, in words.
    await page.getByRole("heading", { name: "Allow Demo app?" }).waitFor();
    await page.getByText("See your email address").waitFor();
    await page.getByRole("button", { name: "Allow" }).click();

    await page.waitForURL(`${app.origin}/`);
    await page.getByText(/^Signed in as ada@example\.com/).waitFor();

    // The app forgets its session; the next sign-in needs no login page.
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await page.getByText("Not signed in.").waitFor();
    const visited = [];
    page.on("framenavigated", (frame) => visited.push(frame.url()));
    await page.getByRole("button", { name: "Sign in with Portcullis" }).click();
    await page.getByText(/^Signed in as ada@example\.com/).waitFor();
    assert.ok(!visited.some((url) => url.includes("/ui/login")), `single sign-on showed the login page: ${visited}`);

    // Signing out at the provider (with the ID token as hint) ends the SSO.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${app.origin}/`);
    await page.getByText("Not signed in.").waitFor();
    await page.getByRole("button", { name: "Sign in with Portcullis" }).click();
    await page.waitForURL(`${api}/ui/login?request_id=*`);
  });
});

test("the account page lists the apps a user allowed, and revoking one makes it ask again", async () => {
  await withPage(async (page) => {
    // Allowed through the app (the first test may have done so already).
    await logInThroughTheLoginPage(page);
    const allow = page.getByRole("button", { name: "Allow" });
    const signedIn = page.getByText(/^Signed in as ada@example\.com/);
    await Promise.race([allow.waitFor(), signedIn.waitFor()]);
    if (await allow.isVisible()) await allow.click();
    await signedIn.waitFor();

    await page.goto(`${api}/ui/account`);
    const apps = page.getByRole("list", { name: "Apps you allowed" });
    await apps.getByText("Demo app").waitFor();
    await apps.getByText(/openid/).waitFor();
    await page.getByRole("button", { name: "Revoke the access of Demo app" }).click();
    await page.getByRole("status").getByText("Demo app no longer has access.").waitFor();
    await apps.getByText("None yet.").waitFor();

    // The app's next sign-in (once it forgets its session) asks for
    // consent again.
    await page.goto(`${app.origin}/`);
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await page.getByRole("button", { name: "Sign in with Portcullis" }).click();
    await page.getByRole("heading", { name: "Allow Demo app?" }).waitFor();
  });
});
