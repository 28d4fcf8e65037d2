// The client against the real service: the release binary (PORTCULLIS_BIN)
// on a fresh SQLite file, in body mode (Node's fetch keeps no cookies; the
// browser tests cover cookie mode).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ConsentRequired, MfaRequired, PortcullisError, createClient } from "../src/index.js";

const binary = process.env.PORTCULLIS_BIN;
let service: ChildProcess | undefined;
let baseUrl = "";
let dir = "";

beforeAll(async () => {
  if (!binary) {
    if (process.env.CI) throw new Error("PORTCULLIS_BIN is not set");
    return;
  }
  dir = mkdtempSync(join(tmpdir(), "portcullis-client-"));
  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dir, "client.db")}`,
      BIND_ADDR: "127.0.0.1:0",
      RATE_LIMIT_PER_MINUTE: "0",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  baseUrl = await new Promise<string>((resolve, reject) => {
    let seen = "";
    service!.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const ready = /ready at (http:\/\/\S+)/.exec(seen);
      if (ready?.[1]) resolve(ready[1]);
    });
    service!.on("exit", (code) => reject(new Error(`portcullis exited with ${code}`)));
  });
}, 30_000);

afterAll(() => {
  service?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, as an app makes it. */
function totp(secretBase32: string, at = Date.now()): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secretBase32) bits += alphabet.indexOf(char).toString(2).padStart(5, "0");
  const bytes = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac("sha1", bytes).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

describe.skipIf(!binary)("against the real service", () => {
  it("accepts an app's authorization request with consent, then lists and withdraws the consent", async () => {
    const app = JSON.parse(
      execFileSync(
        binary!,
        ["client", "create", "--name", "Wiki", "--type", "public", "--redirect-uri", "https://wiki.example/cb", "--scope", "openid"],
        { env: { ...process.env, DATABASE_URL: `sqlite://${join(dir, "client.db")}`, RUST_LOG: "warn" } },
      ).toString(),
    ) as { client_id: string };
    const client = createClient({ baseUrl, mode: "body" });
    const password = "correct horse battery staple";
    await client.register({ username: "oidc_user", email: "oidc@example.com", password });
    await client.login({ email: "oidc@example.com", password });

    const authorize = new URL("/oauth2/authorize", baseUrl);
    for (const [name, value] of Object.entries({
      response_type: "code",
      client_id: app.client_id,
      redirect_uri: "https://wiki.example/cb",
      scope: "openid",
      state: "s1",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
    })) {
      authorize.searchParams.set(name, value);
    }
    const toLogin = await fetch(authorize, { redirect: "manual" });
    const requestId = new URL(toLogin.headers.get("location")!).searchParams.get("request_id")!;

    const request = await client.authorizationRequest(requestId);
    expect(request.client.name).toBe("Wiki");
    const refused = await client.acceptAuthorizationRequest(requestId).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConsentRequired);
    expect((refused as ConsentRequired).scopes).toEqual(["openid"]);
    const back = new URL(await client.acceptAuthorizationRequest(requestId, true));
    expect(back.searchParams.get("state")).toBe("s1");
    expect(back.searchParams.get("code")).toBeTruthy();

    const consents = await client.consents();
    expect(consents.map((consent) => consent.client_id)).toEqual([app.client_id]);
    await client.revokeConsent(app.client_id);
    expect(await client.consents()).toEqual([]);
  });

  it("registers, logs in, refreshes once for parallel callers, and logs out", async () => {
    let refreshes = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input).endsWith("/token/refresh")) refreshes += 1;
      return fetch(input, init);
    };
    const client = createClient({ baseUrl, mode: "body", fetch: counting });
    const password = "correct horse battery staple";
    const user = await client.register({ username: "ada", email: "ada@example.com", password });
    expect(user.mfa.totp).toBe(false);

    await expect(client.login({ email: "ada@example.com", password: "wrong password!" })).rejects.toMatchObject({
      code: "invalid_credentials",
      status: 401,
    });
    await client.login({ email: "ada@example.com", password });
    expect((await client.me()).username).toBe("ada");

    const pairs = await Promise.all(Array.from({ length: 10 }, () => client.refresh()));
    expect(refreshes).toBe(1);
    expect(new Set(pairs.map((pair) => pair.access_token)).size).toBe(1);
    expect((await client.me()).email).toBe("ada@example.com");

    await client.logout();
    await expect(client.me()).rejects.toBeInstanceOf(Error);
  });

  it("finishes a login with TOTP through loginMfa", async () => {
    const client = createClient({ baseUrl, mode: "body" });
    const password = "another fine passphrase";
    await client.register({ username: "grace", email: "grace@example.com", password });
    await client.login({ username: "grace", password });
    const enrollment = await client.enrollTotp(password);
    expect(enrollment.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
    const recoveryCodes = await client.confirmTotp(totp(enrollment.secret));
    expect(recoveryCodes).toHaveLength(10);
    const confirmed = { recovery_codes: recoveryCodes };

    const challenge = await client.login({ username: "grace", password }).catch((e) => e);
    expect(challenge).toBeInstanceOf(MfaRequired);
    // The code just used for confirming is spent: a recovery code finishes it.
    await client.loginMfa(challenge.mfaToken, { recovery_code: confirmed.recovery_codes[0]! });
    const me = await client.me();
    expect(me.mfa).toEqual({ totp: true, passkeys: 0, recovery_codes_left: 9 });

    const wrong = await client.login({ username: "grace", password }).catch((e) => e);
    const failure = await client.loginMfa(wrong.mfaToken, { code: "000000" }).catch((e) => e);
    expect(failure).toBeInstanceOf(PortcullisError);
    expect(["invalid_mfa_code"]).toContain(failure.code);
  });

  it("changes the account through the helpers: sessions, username, password, deletion", async () => {
    const client = createClient({ baseUrl, mode: "body" });
    const other = createClient({ baseUrl, mode: "body" });
    const password = "a third good passphrase";
    await client.register({ username: "hopper", email: "hopper@example.com", password });
    await client.login({ email: "hopper@example.com", password });
    await other.login({ email: "hopper@example.com", password });
    const sessions = await client.sessions();
    expect(sessions).toHaveLength(2);
    const theirs = sessions.find((session) => !session.current)!;
    await client.revokeSession(theirs.id);
    await expect(other.me()).rejects.toMatchObject({ code: "invalid_token" });
    expect((await client.changeUsername("grace_hopper")).username).toBe("grace_hopper");
    await client.forgotPassword("hopper@example.com");
    await client.changePassword(password, "an even better passphrase");
    await client.deleteAccount("an even better passphrase");
    await expect(client.login({ email: "hopper@example.com", password: "an even better passphrase" })).rejects.toMatchObject({
      code: "invalid_credentials",
    });
  });
});
