// Portcullis as an OpenID Provider, driven by relying-party libraries that
// nobody here wrote:
//   - openid-client (Node; panva's certified library): a public client with
//     PKCE, and a native app coming back to a loopback port it listens on;
//   - authlib (Python): a confidential client, with client_credentials,
//     introspection and revocation (authlib_client.py).
// The user's side is the login page's JSON API (log in, accept the request).
//
//   PORTCULLIS_BIN=target/release/portcullis \
//   PORTCULLIS_INTEROP_PYTHON=/path/to/venv/bin/python npm test
// (the Python needs `pip install authlib requests`).
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import * as oidc from "openid-client";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.PORTCULLIS_BIN;
const python = process.env.PORTCULLIS_INTEROP_PYTHON || "python3";
const password = "correct horse battery staple";
let issuer = "";
let service;
let dataDir;
let database;

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

/** Runs `portcullis client create …`; returns the client as JSON. */
function createClient(args) {
  const output = execFileSync(binary, ["client", "create", ...args], {
    env: { ...process.env, DATABASE_URL: database, RUST_LOG: "warn" },
  });
  return JSON.parse(output.toString());
}

/** A new account, logged in: its id and access token. */
async function signedUp(username) {
  const email = `${username}@example.com`;
  const registered = await fetch(`${issuer}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, email, password }),
  });
  assert.equal(registered.status, 201);
  const { id } = await registered.json();
  const login = await fetch(`${issuer}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const { access_token: accessToken } = await login.json();
  return { id, accessToken };
}

/** The browser's part: to the login page, which accepts as `user`. */
async function signInThroughLoginPage(authorizationUrl, user) {
  const toLogin = await fetch(authorizationUrl, { redirect: "manual" });
  assert.equal(toLogin.status, 303);
  const loginPage = new URL(toLogin.headers.get("location"));
  assert.equal(loginPage.pathname, "/ui/login");
  const requestId = loginPage.searchParams.get("request_id");
  const accepted = await fetch(`${issuer}/oauth2/requests/${requestId}/accept`, {
    method: "POST",
    headers: { Authorization: `Bearer ${user.accessToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ consent: true }),
  });
  assert.equal(accepted.status, 200, await accepted.clone().text());
  return (await accepted.json()).redirect_to;
}

before(async () => {
  assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-interop-"));
  database = `sqlite://${join(dataDir, "interop.db")}`;
  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: database,
      BIND_ADDR: `127.0.0.1:${port}`,
      PUBLIC_URL: issuer,
      RATE_LIMIT_PER_MINUTE: "0",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(`${issuer}/healthz`);
});

after(() => {
  service?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("openid-client signs a SPA's user in with PKCE, reads userinfo, refreshes and revokes", async () => {
  const spa = createClient([
    "--name", "Demo SPA", "--type", "public",
    "--redirect-uri", "http://localhost:5173/callback",
    "--scope", "openid", "--scope", "email", "--scope", "profile",
  ]);
  const user = await signedUp("ada");
  const config = await oidc.discovery(new URL(issuer), spa.client_id, undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: "http://localhost:5173/callback",
    scope: "openid email profile",
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const callback = await signInThroughLoginPage(url, user);

  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.sub, user.id);
  assert.equal(claims.email, "ada@example.com");
  assert.deepEqual(claims.amr, ["pwd"]);

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.preferred_username, "ada");

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  await oidc.tokenRevocation(config, refreshed.refresh_token);
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (error) => {
    assert.equal(error.error, "invalid_grant");
    return true;
  });
});

test("openid-client signs a native app's user in through a loopback redirect on a port of its own", async () => {
  const app = createClient([
    "--name", "Desktop", "--type", "public", "--first-party",
    "--redirect-uri", "http://127.0.0.1/callback", "--scope", "openid",
  ]);
  const user = await signedUp("grace");
  // The app listens on a free port; the registered URI has none (RFC 8252 §7.3).
  let arrived;
  const listener = createServer((request, response) => {
    arrived = new URL(request.url, "http://127.0.0.1");
    response.end("You can close this window.");
  });
  await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const redirectUri = `http://127.0.0.1:${listener.address().port}/callback`;
  try {
    const config = await oidc.discovery(new URL(issuer), app.client_id, undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
    });
    const callback = await signInThroughLoginPage(url, user);
    // The system browser follows the redirect to the app's port.
    await fetch(callback);
    assert.equal(arrived.pathname, "/callback");
    const tokens = await oidc.authorizationCodeGrant(
      config,
      new URL(`${redirectUri}${arrived.search}`),
      { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true },
    );
    assert.equal(tokens.claims().sub, user.id);
  } finally {
    listener.close();
  }
});

test("authlib runs a confidential client's flows", async () => {
  const server = createClient([
    "--name", "Wiki", "--type", "confidential",
    "--redirect-uri", "https://wiki.example/callback",
    "--grant-type", "authorization_code", "--grant-type", "refresh_token",
    "--grant-type", "client_credentials",
    "--scope", "openid", "--scope", "email", "--scope", "profile", "--scope", "api:read",
  ]);
  const user = await signedUp("linus");
  const run = spawnSync(python, [join(here, "authlib_client.py")], {
    env: {
      ...process.env,
      ISSUER: issuer,
      CLIENT_ID: server.client_id,
      CLIENT_SECRET: server.client_secret,
      REDIRECT_URI: "https://wiki.example/callback",
      USER_TOKEN: user.accessToken,
      USER_ID: user.id,
    },
    encoding: "utf8",
  });
  assert.equal(run.status, 0, `authlib_client.py failed:\n${run.stdout}\n${run.stderr}`);
  assert.equal(JSON.parse(run.stdout).sub, user.id);
});
