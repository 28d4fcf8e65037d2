// The ten-minute integration as a test (issue 32): a scratch SPA that installs
// the client the way a new app would (the tarball `npm pack` makes, imported
// as "@portcullis/client" through an import map, no bundler), served on
// localhost beside the API started as the README's "An SPA in development"
// says (CORS_ALLOWED_ORIGINS, COOKIE_SECURE=false, the banner's localhost
// address), driven in Debian's Chromium: a signed-out load with no request
// and no console error, register, cookie-mode login, a reload that keeps the
// session, a refresh, TOTP enrolment (codes computed here from the secret),
// the two-step login, logout. Then the localhost/127.0.0.1 trap, whose 401
// now says what happened.
//
//   PORTCULLIS_BIN=target/release/portcullis npm test
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchChromium, totp } from "./support.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const clientDir = join(here, "../../clients/typescript");
const artifacts = join(here, "../../target/browser-artifacts");
const binary = process.env.PORTCULLIS_BIN;
const password = "a long enough passphrase";
let scratch;
let page_server;
let pageOrigin;
let trapOrigin;
let api;
let service;
let browser;

const INDEX = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Trial app</title>
  <link rel="icon" href="data:,">
  <script type="importmap">
    { "imports": { "@portcullis/client": "/node_modules/@portcullis/client/dist/index.js" } }
  </script>
  <script type="module" src="/app.js"></script>
</head>
<body><p id="status">Loading</p></body>
</html>
`;

// What a newcomer writes from the README: restore on load, then the calls.
const APP = `import { createClient, MfaRequired } from "@portcullis/client";
import { API } from "/config.js";

const status = (text) => (document.getElementById("status").textContent = text);
export const auth = createClient({ baseUrl: API, mode: "cookie", onSessionEnd: () => status("Signed out") });
window.auth = auth;
window.MfaRequired = MfaRequired;
const user = await auth.restore();
status(user === null ? "Not logged in" : "Logged in as " + user.username);
`;

/** Serves the scratch app's folder (and /config.js naming the API). */
function serveScratch(root) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json" };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/config.js") {
      res.writeHead(200, { "Content-Type": types[".js"] }).end(`export const API = ${JSON.stringify(api)};\n`);
      return;
    }
    const file = normalize(join(root, path === "/" ? "index.html" : path));
    if (!file.startsWith(root)) return void res.writeHead(404).end();
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  // On 127.0.0.1, which both names reach (localhost, and the address itself).
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
  scratch = mkdtempSync(join(tmpdir(), "portcullis-trial-"));
  // The package as a registry would serve it (dist/ is committed and checked
  // fresh by CI, so no build here), installed into a fresh app.
  const packed = execFileSync(
    "npm",
    ["pack", "--ignore-scripts", "--pack-destination", scratch, "--loglevel=error"],
    { cwd: clientDir, encoding: "utf8" },
  );
  const tarball = join(scratch, packed.trim().split("\n").pop());
  const app = join(scratch, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "trial-app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    cwd: app,
    stdio: ["ignore", "ignore", "inherit"],
  });
  writeFileSync(join(app, "index.html"), INDEX);
  writeFileSync(join(app, "app.js"), APP);
  page_server = await serveScratch(app);
  pageOrigin = `http://localhost:${page_server.address().port}`;
  trapOrigin = `http://127.0.0.1:${page_server.address().port}`;

  // The README's development command, on a free port.
  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(scratch, "trial.db")}`,
      BIND_ADDR: "127.0.0.1:0",
      CORS_ALLOWED_ORIGINS: `${pageOrigin},${trapOrigin}`,
      COOKIE_SECURE: "false",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // The banner names the API by the address to use: localhost.
  api = await new Promise((resolve, reject) => {
    let seen = "";
    service.stdout.on("data", (chunk) => {
      seen += chunk;
      const ready = /ready at (http:\/\/\S+)/.exec(seen);
      if (ready) resolve(ready[1]);
    });
    service.on("exit", (code) => reject(new Error(`portcullis exited with ${code}`)));
  });
  assert.match(api, /^http:\/\/localhost:\d+$/);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  service?.kill();
  page_server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A fresh context and page that records console errors and API requests. */
async function withPage(name, body) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = { consoleErrors: [], refreshes: 0 };
  page.on("console", (message) => {
    if (message.type() === "error") seen.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => seen.consoleErrors.push(String(error)));
  page.on("request", (request) => {
    if (request.url().endsWith("/token/refresh") && request.method() === "POST") seen.refreshes += 1;
  });
  try {
    await body(page, context, seen);
  } catch (error) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, `trial-${name}.png`), fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}

async function statusIs(page, expected) {
  await page
    .waitForFunction((text) => document.getElementById("status")?.textContent === text, expected, {
      timeout: 10_000,
    })
    .catch(async () => {
      throw new Error(`status is "${await page.locator("#status").textContent()}", expected "${expected}"`);
    });
}

test("the packed client in a scratch SPA: signed-out load, register, cookie login, reload, refresh, TOTP, two-step login, logout", async () => {
  await withPage("journey", async (page, context, seen) => {
    // Signed out: no refresh is even tried, so nothing lands in the console.
    await page.goto(pageOrigin);
    await statusIs(page, "Not logged in");
    assert.equal(seen.refreshes, 0, "a signed-out load asks nothing");
    assert.deepEqual(seen.consoleErrors, [], "a signed-out load logs no error");

    const user = await page.evaluate(
      async ([password]) => {
        await window.auth.register({ username: "newcomer", email: "newcomer@example.com", password });
        return window.auth.login({ email: "newcomer@example.com", password });
      },
      [password],
    );
    assert.equal(user.username, "newcomer");
    const cookies = await context.cookies(`${api}/token/refresh`);
    const refresh = cookies.find((cookie) => cookie.name === "portcullis_refresh");
    assert.ok(refresh?.httpOnly, "the refresh token is in an HttpOnly cookie");
    const hint = cookies.find((cookie) => cookie.name === "portcullis_refresh_hint");
    assert.equal(hint?.value, "1");
    assert.equal(hint?.httpOnly, false);

    // A reload keeps the session: restore() refreshes through the cookie.
    await page.reload();
    await statusIs(page, "Logged in as newcomer");

    // A refresh gives a new access token; the session goes on.
    const [before, afterRefresh] = await page.evaluate(async () => {
      const before = window.auth.currentAccessToken;
      await window.auth.refresh();
      return [before, window.auth.currentAccessToken];
    });
    assert.ok(before && afterRefresh && before !== afterRefresh, "a new access token");
    assert.equal((await page.evaluate(() => window.auth.me())).username, "newcomer");

    // TOTP enrolment: the secret comes back, the code is computed here.
    const enrollment = await page.evaluate((password) => window.auth.enrollTotp(password), password);
    assert.match(enrollment.otpauth_uri, /^otpauth:\/\/totp\//);
    const recoveryCodes = await page.evaluate((code) => window.auth.confirmTotp(code), totp(enrollment.secret));
    assert.equal(recoveryCodes.length, 10);
    assert.equal((await page.evaluate(() => window.auth.me())).mfa.totp, true);

    // Log out; the password login now takes a second step. (The TOTP code
    // just used is spent until the next step: a recovery code finishes it,
    // so nothing here waits on the clock.)
    await page.evaluate(() => window.auth.logout());
    await statusIs(page, "Signed out");
    const challenge = await page.evaluate(async (password) => {
      try {
        await window.auth.login({ email: "newcomer@example.com", password });
        return null;
      } catch (error) {
        return { mfa: error instanceof window.MfaRequired, methods: error.methods, token: error.mfaToken };
      }
    }, password);
    assert.deepEqual(challenge && { mfa: challenge.mfa, methods: challenge.methods }, {
      mfa: true,
      methods: ["totp", "recovery_code"],
    });
    const secondStep = await page.evaluate(
      ([token, code]) => window.auth.loginMfa(token, { recovery_code: code }),
      [challenge.token, recoveryCodes[0]],
    );
    assert.equal(secondStep.mfa.recovery_codes_left, 9);
    await page.reload();
    await statusIs(page, "Logged in as newcomer");

    // Logout clears the cookie and its hint: the next load is signed out
    // without a request.
    await page.evaluate(() => window.auth.logout());
    const refreshesBefore = seen.refreshes;
    // (The 401 mfa_required of the two-step login is in the console: the
    // contract's answer to a right password with a second factor.)
    seen.consoleErrors.length = 0;
    await page.reload();
    await statusIs(page, "Not logged in");
    assert.equal(seen.refreshes, refreshesBefore, "no refresh after logout");
    assert.deepEqual(await context.cookies(), [], "no cookie left");
    assert.deepEqual(seen.consoleErrors, []);
  });
});

test("a page on 127.0.0.1 calling the API on localhost: logged in, then a reload loses the session, and the 401 says why", async () => {
  // The same scratch app reached by its address instead of its name (the
  // API allows that origin too, so that the calls are made at all).
  await withPage("two-sites", async (page) => {
    await page.goto(trapOrigin);
    await statusIs(page, "Not logged in");
    const user = await page.evaluate(
      async ([password]) => {
        await window.auth.register({ username: "trapped", email: "trapped@example.com", password });
        return window.auth.login({ email: "trapped@example.com", password });
      },
      [password],
    );
    assert.equal(user.username, "trapped");
    await page.reload();
    await statusIs(page, "Not logged in");
    const detail = await page.evaluate(() =>
      window.auth.refresh().then(
        () => "refreshed",
        (error) => `${error.code}: ${error.problem?.detail}`,
      ),
    );
    assert.match(detail, /^missing_token: /);
    assert.ok(detail.includes(`The page at ${trapOrigin} and this API at ${api} are different sites`), detail);
    assert.match(detail, /SameSite=Strict/);
  });
});

test("a page whose origin is not allowed: the browser says only 'Failed to fetch', the preflight's answer says what to set", async () => {
  const origin = "http://localhost:1";
  const refused = await fetch(`${api}/login`, {
    method: "OPTIONS",
    headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
  });
  assert.equal(refused.status, 403);
  const problem = await refused.json();
  assert.equal(problem.code, "forbidden");
  assert.ok(problem.detail.includes(`The page at ${origin} may not call this API`), problem.detail);
  assert.match(problem.detail, /CORS_ALLOWED_ORIGINS/);
});
