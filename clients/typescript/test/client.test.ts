// The client's own logic, against a scripted fetch: single-flight refresh,
// refresh ahead of expiry and on token_expired, the MFA step, both modes and
// typed errors. (test/integration.test.ts runs it against the real service.)
import { describe, expect, it } from "vitest";

import {
  MfaRequired,
  PortcullisError,
  ProviderSignInError,
  StepUpRequired,
  createClient,
  type TokenPair,
} from "../src/index.js";

type Call = { url: string; init: RequestInit };

const user = {
  id: "0f8fad5b-d9cb-469f-a165-70867728950e",
  username: "ada",
  email: "ada@example.com",
  email_verified: true,
  role: "user",
  mfa: { totp: false, passkeys: 0, recovery_codes_left: 0 },
  created_at: "2026-11-26T10:00:00Z",
} as const;

function pair(n: number, withRefresh = true): TokenPair {
  return {
    access_token: `access-${n}`,
    token_type: "Bearer",
    expires_in: 900,
    ...(withRefresh ? { refresh_token: `refresh-${n}` } : {}),
    refresh_expires_in: 86400,
    user,
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const type = status >= 400 ? "application/problem+json" : "application/json";
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": type, ...headers },
  });
}

function problem(status: number, code: string, extra: object = {}) {
  return { type: `urn:portcullis:problem:${code}`, title: "x", status, code, ...extra };
}

/** A fetch that answers by path and records every call. */
function scripted(answer: (path: string, init: RequestInit, n: number) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, init });
    return answer(new URL(url).pathname, init, calls.length);
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

const header = (call: Call, name: string) => (call.init.headers as Record<string, string>)[name];

describe("refresh", () => {
  it("is single-flight: ten parallel calls after expiry make one refresh", async () => {
    let now = 0;
    const { calls, fetch } = scripted(async (path, _init, n) => {
      if (path === "/token/refresh") await new Promise((resolve) => setTimeout(resolve, 20));
      return path === "/me" ? json(200, user) : json(200, pair(n));
    });
    const client = createClient({ baseUrl: "https://auth.test/", mode: "body", fetch, now: () => now });
    await client.login({ email: "ada@example.com", password: "pw" });
    now = 900_000; // the access token has expired
    await Promise.all(Array.from({ length: 10 }, () => client.me()));
    expect(calls.filter((call) => call.url.endsWith("/token/refresh"))).toHaveLength(1);
    expect(calls.filter((call) => call.url.endsWith("/me"))).toHaveLength(10);
  });

  it("happens before expiry, inside the leeway", async () => {
    let now = 0;
    const { calls, fetch } = scripted((path, _init, n) =>
      path === "/me" ? json(200, user) : json(200, pair(n)),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch, now: () => now });
    await client.login({ email: "ada@example.com", password: "pw" });
    now = 869_000; // 31 s left: no refresh yet
    await client.me();
    now = 871_000; // 29 s left
    await client.me();
    const paths = calls.map((call) => new URL(call.url).pathname);
    expect(paths).toEqual(["/login", "/me", "/token/refresh", "/me"]);
  });

  it("never uses more than a quarter of a short token's lifetime as leeway", async () => {
    let now = 0;
    const short = (n: number) => ({ ...pair(n), expires_in: 20 });
    const { calls, fetch } = scripted((path, _init, n) =>
      path === "/me" ? json(200, user) : json(200, short(n)),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch, now: () => now });
    await client.login({ email: "ada@example.com", password: "pw" });
    now = 14_000; // 6 s of 20 left: more than a quarter, no refresh (a 30 s leeway would refresh each call)
    await client.me();
    await client.me();
    now = 16_000; // 4 s left
    await client.me();
    const paths = calls.map((call) => new URL(call.url).pathname);
    expect(paths).toEqual(["/login", "/me", "/me", "/token/refresh", "/me"]);
  });

  it("follows a 401 token_expired with one refresh and one retry", async () => {
    let expired = true;
    const { calls, fetch } = scripted((path, _init, n) => {
      if (path === "/me" && expired) {
        expired = false;
        return json(401, problem(401, "token_expired"));
      }
      return path === "/me" ? json(200, user) : json(200, pair(n));
    });
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    await client.login({ username: "ada", password: "pw" });
    await expect(client.me()).resolves.toEqual(user);
    const paths = calls.map((call) => new URL(call.url).pathname);
    expect(paths).toEqual(["/login", "/me", "/token/refresh", "/me"]);
    expect(header(calls[3]!, "Authorization")).toBe("Bearer access-3");
  });

  it("ends the session when the refresh is refused", async () => {
    const ended: string[] = [];
    const { fetch } = scripted((path, _init, n) =>
      path === "/token/refresh" ? json(401, problem(401, "refresh_token_reused")) : json(200, pair(n)),
    );
    const storage = new Map<string, string | null>();
    const client = createClient({
      baseUrl: "https://auth.test",
      mode: "body",
      fetch,
      storage: { get: () => storage.get("t") ?? null, set: (t) => void storage.set("t", t) },
      onSessionEnd: (reason) => ended.push(reason),
    });
    await client.login({ email: "ada@example.com", password: "pw" });
    expect(storage.get("t")).toBe("refresh-1");
    await expect(client.refresh()).rejects.toMatchObject({ code: "refresh_token_reused" });
    expect(storage.get("t")).toBeNull();
    expect(ended).toEqual(["refresh_token_reused"]);
  });
});

describe("modes", () => {
  it("cookie mode asks for the cookie, sends credentials and refreshes with the CSRF header and no body", async () => {
    const { calls, fetch } = scripted((_path, _init, n) => json(200, pair(n, false)));
    const client = createClient({ baseUrl: "https://auth.test", mode: "cookie", fetch });
    await client.login({ email: "ada@example.com", password: "pw" });
    await client.refresh();
    const [login, refresh] = calls;
    expect(JSON.parse(String(login!.init.body))).toMatchObject({ token_delivery: "cookie" });
    expect(login!.init.credentials).toBe("include");
    expect(refresh!.init.body).toBeUndefined();
    expect(refresh!.init.credentials).toBe("include");
    expect(header(refresh!, "X-Requested-With")).toBe("portcullis");
  });

  it("body mode sends the stored refresh token", async () => {
    const { calls, fetch } = scripted((_path, _init, n) => json(200, pair(n)));
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    await client.login({ email: "ada@example.com", password: "pw" });
    await client.refresh();
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({ refresh_token: "refresh-1" });
    expect(calls[1]!.init.credentials).toBeUndefined();
  });
});

describe("errors", () => {
  it("turns mfa_required into MfaRequired, and loginMfa finishes the login", async () => {
    const { calls, fetch } = scripted((path, _init, n) =>
      path === "/login"
        ? json(401, problem(401, "mfa_required", { mfa_token: "mfa-1", methods: ["totp", "recovery_code"] }))
        : json(200, pair(n)),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    const failure = await client.login({ email: "ada@example.com", password: "pw" }).catch((e) => e);
    expect(failure).toBeInstanceOf(MfaRequired);
    expect(failure.mfaToken).toBe("mfa-1");
    expect(failure.methods).toEqual(["totp", "recovery_code"]);
    await client.loginMfa(failure.mfaToken, { code: "123456" });
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({
      mfa_token: "mfa-1",
      code: "123456",
      token_delivery: "body",
    });
    expect(client.currentAccessToken).toBe("access-2");
  });

  it("carries the problem, its code and Retry-After", async () => {
    const { fetch } = scripted(() => json(429, problem(429, "rate_limited"), { "Retry-After": "7" }));
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    const failure = await client.login({ email: "a@b.c", password: "pw" }).catch((e) => e);
    expect(failure).toBeInstanceOf(PortcullisError);
    expect(failure.code).toBe("rate_limited");
    expect(failure.status).toBe(429);
    expect(failure.retryAfter).toBe(7);
  });
});

describe("passkeys", () => {
  it("logs in with a passkey: the hint, the options to the authenticator, its answer back", async () => {
    const options = { challenge: "Y2hhbGxlbmdl", rpId: "localhost", allowCredentials: [] };
    const { calls, fetch } = scripted((path) =>
      path === "/login/passkey/challenge"
        ? json(200, { ceremony_id: "ceremony-1", options })
        : json(200, pair(1, false)),
    );
    const seen: unknown[] = [];
    const answer = { id: "cred", rawId: "cred", type: "public-key", response: {}, clientExtensionResults: {} };
    const client = createClient({
      baseUrl: "http://api",
      mode: "cookie",
      fetch,
      webauthn: {
        create: () => Promise.reject(new Error("not this one")),
        get: async (given) => {
          seen.push(given);
          return answer as unknown as PublicKeyCredentialJSON;
        },
      },
    });
    const loggedIn = await client.loginWithPasskey({ email: "ada@example.com" });
    expect(loggedIn.username).toBe("ada");
    expect(seen).toEqual([options]);
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ email: "ada@example.com" });
    expect(JSON.parse(String(calls[1]?.init.body))).toEqual({
      ceremony_id: "ceremony-1",
      credential: answer,
      remember: false,
      token_delivery: "cookie",
    });
    expect(client.currentAccessToken).toBe("access-1");
  });

  it("a refused passkey login is a typed error", async () => {
    const { fetch } = scripted((path) =>
      path === "/login/passkey/challenge"
        ? json(200, { ceremony_id: "c", options: {} })
        : json(401, problem(401, "invalid_credentials")),
    );
    const client = createClient({
      baseUrl: "http://api",
      mode: "body",
      fetch,
      webauthn: {
        create: () => Promise.reject(new Error("unused")),
        get: async () => ({}) as PublicKeyCredentialJSON,
      },
    });
    const error = await client.loginWithPasskey().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PortcullisError);
    expect((error as PortcullisError).code).toBe("invalid_credentials");
  });
});

describe("factor rules", () => {
  it("a passkey answers the second step: the challenge's options to the authenticator, its answer to /login/mfa", async () => {
    const passkeyOptions = { challenge: "c2Vjb25k", rpId: "localhost", allowCredentials: [{ id: "cred", type: "public-key" }] };
    const { calls, fetch } = scripted((path, _init, n) =>
      path === "/login"
        ? json(401, problem(401, "mfa_required", { mfa_token: "mfa-2", methods: ["passkey"], passkey_options: passkeyOptions }))
        : json(200, pair(n)),
    );
    const seen: unknown[] = [];
    const answer = { id: "cred", rawId: "cred", type: "public-key", response: {}, clientExtensionResults: {} };
    const client = createClient({
      baseUrl: "https://auth.test",
      mode: "body",
      fetch,
      webauthn: {
        create: () => Promise.reject(new Error("not this one")),
        get: async (given) => {
          seen.push(given);
          return answer as unknown as PublicKeyCredentialJSON;
        },
      },
    });
    const challenge = await client.login({ email: "ada@example.com", password: "pw" }).catch((e) => e);
    expect(challenge).toBeInstanceOf(MfaRequired);
    expect(challenge.methods).toEqual(["passkey"]);
    expect(challenge.passkeyOptions).toEqual(passkeyOptions);
    await client.loginMfaWithPasskey(challenge);
    expect(seen).toEqual([passkeyOptions]);
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({
      mfa_token: "mfa-2",
      credential: answer,
      token_delivery: "body",
    });
    expect(client.currentAccessToken).toBe("access-2");
  });

  it("a challenge without passkey is not answered with one", async () => {
    const { fetch } = scripted(() =>
      json(401, problem(401, "mfa_required", { mfa_token: "mfa-3", methods: ["totp", "recovery_code"] })),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    const challenge = await client.login({ email: "ada@example.com", password: "pw" }).catch((e) => e);
    await expect(client.loginMfaWithPasskey(challenge)).rejects.toThrow(/offers no passkey/);
  });

  it("step_up_required is a typed error", async () => {
    const { fetch } = scripted((path, _init, n) =>
      path === "/login" ? json(200, pair(n)) : json(403, problem(403, "step_up_required")),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    await client.login({ email: "ada@example.com", password: "pw" });
    const error = await client.request("DELETE", "/me/passkeys/x").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StepUpRequired);
    expect((error as StepUpRequired).code).toBe("step_up_required");
    expect((error as StepUpRequired).status).toBe(403);
  });
});

describe("account helpers", () => {
  it("send the contract's bodies and read 202 answers without a body", async () => {
    const { calls, fetch } = scripted((path, init, n) => {
      if (path === "/login") return json(200, pair(n));
      if (path === "/me/mfa/totp" && init.method === "POST") {
        return json(200, { secret: "JBSW", otpauth_uri: "otpauth://totp/x" });
      }
      if (path === "/me/mfa/totp/confirm" || path === "/me/mfa/recovery-codes") {
        return json(200, { recovery_codes: ["a", "b"] });
      }
      if (path === "/password/forgot" || path === "/me/email") return new Response(null, { status: 202 });
      return new Response(null, { status: 204 });
    });
    const client = createClient({ baseUrl: "https://auth.test", mode: "body", fetch });
    await client.login({ email: "ada@example.com", password: "pw" });
    expect(await client.enrollTotp("pw")).toEqual({ secret: "JBSW", otpauth_uri: "otpauth://totp/x" });
    expect(await client.confirmTotp("123456")).toEqual(["a", "b"]);
    expect(await client.regenerateRecoveryCodes("pw", "654321")).toEqual(["a", "b"]);
    await client.disableTotp("pw", "111111");
    await client.changeEmail("new@example.com", "pw");
    await client.forgotPassword("ada@example.com");
    await client.revokeSession("s 1");
    const sent = calls.slice(1).map((call) => [
      call.init.method,
      new URL(call.url).pathname,
      call.init.body === undefined ? undefined : JSON.parse(String(call.init.body)),
      header(call, "Authorization") !== undefined,
    ]);
    expect(sent).toEqual([
      ["POST", "/me/mfa/totp", { password: "pw" }, true],
      ["POST", "/me/mfa/totp/confirm", { code: "123456" }, true],
      ["POST", "/me/mfa/recovery-codes", { password: "pw", code: "654321" }, true],
      ["DELETE", "/me/mfa/totp", { password: "pw", code: "111111" }, true],
      ["PUT", "/me/email", { new_email: "new@example.com", password: "pw" }, true],
      ["POST", "/password/forgot", { email: "ada@example.com" }, false],
      ["DELETE", "/me/sessions/s%201", undefined, true],
    ]);
  });
});

describe("sign in by email", () => {
  it("asks for a link and signs in with the code, in the client's mode", async () => {
    const { calls, fetch } = scripted((path, _init, n) =>
      path === "/login/email" ? new Response(null, { status: 202 }) : json(200, pair(n, false)),
    );
    const client = createClient({ baseUrl: "https://auth.test", mode: "cookie", fetch });
    await client.requestEmailLogin("ada@example.com", "https://app.test/welcome");
    await client.loginWithEmail({ email: "ada@example.com", code: "493027" });
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual({
      email: "ada@example.com",
      redirect_to: "https://app.test/welcome",
    });
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({
      email: "ada@example.com",
      code: "493027",
      remember: false,
      token_delivery: "cookie",
    });
    expect(client.currentAccessToken).toBe("access-2");
  });
});

describe("restore", () => {
  const page = globalThis as { document?: unknown; location?: unknown };

  it("answers null without a request when the page on the API's host has no hint cookie", async () => {
    const { calls, fetch } = scripted(() => json(200, pair(1, false)));
    page.document = { cookie: "theme=dark" };
    page.location = { href: "http://localhost:5173/", hostname: "localhost" };
    try {
      const auth = createClient({ baseUrl: "http://localhost:8080", mode: "cookie", fetch });
      expect(await auth.restore()).toBeNull();
      expect(calls).toHaveLength(0);
      page.document = { cookie: "theme=dark; portcullis_refresh_hint=1" };
      expect((await auth.restore())?.username).toBe("ada");
      expect(calls).toHaveLength(1);
    } finally {
      delete page.document;
      delete page.location;
    }
  });

  it("asks the server when the hint cannot be seen (another host) and turns a 401 into null", async () => {
    const { calls, fetch } = scripted(() => json(401, problem(401, "missing_token")));
    page.document = { cookie: "" };
    page.location = { href: "https://app.example.com/", hostname: "app.example.com" };
    try {
      const auth = createClient({ baseUrl: "https://auth.example.net", mode: "cookie", fetch });
      expect(await auth.restore()).toBeNull();
      expect(calls).toHaveLength(1);
    } finally {
      delete page.document;
      delete page.location;
    }
  });

  it("in body mode, answers null without a request when nothing is stored", async () => {
    const { calls, fetch } = scripted(() => json(200, pair(1)));
    const auth = createClient({ baseUrl: "http://localhost:8080", mode: "body", fetch });
    expect(await auth.restore()).toBeNull();
    expect(calls).toHaveLength(0);
  });
});

describe("provider sign-in", () => {
  it("starts with an S256 challenge of a fresh verifier", async () => {
    const auth = createClient({ baseUrl: "https://auth.example.com", mode: "body" });
    const { url, codeVerifier } = await auth.startProviderSignIn("google", "myapp://signed-in", true);
    const started = new URL(url);
    expect(started.pathname).toBe("/login/providers/google");
    expect(started.searchParams.get("redirect_to")).toBe("myapp://signed-in");
    expect(started.searchParams.get("code_challenge_method")).toBe("S256");
    expect(started.searchParams.get("remember")).toBe("true");
    expect(codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(codeVerifier));
    const expected = Buffer.from(digest).toString("base64url");
    expect(started.searchParams.get("code_challenge")).toBe(expected);
    const again = await auth.startProviderSignIn("google", "myapp://signed-in");
    expect(again.codeVerifier).not.toBe(codeVerifier);
  });

  it("exchanges the returned code with the verifier and keeps the session", async () => {
    const { calls, fetch } = scripted(() => json(200, pair(1)));
    const auth = createClient({ baseUrl: "https://auth.example.com", mode: "body", fetch });
    const user = await auth.completeProviderSignIn("?code=the-code", "the-verifier");
    expect(user.username).toBe("ada");
    expect(new URL(calls[0].url).pathname).toBe("/login/code");
    expect(JSON.parse(String(calls[0].init.body))).toEqual({
      code: "the-code",
      code_verifier: "the-verifier",
      token_delivery: "body",
    });
  });

  it("turns an error in the query into ProviderSignInError, without a request", async () => {
    const { calls, fetch } = scripted(() => json(200, pair(1)));
    const auth = createClient({ baseUrl: "https://auth.example.com", mode: "body", fetch });
    const refused = auth.completeProviderSignIn("?error=account_exists", "v");
    await expect(refused).rejects.toBeInstanceOf(ProviderSignInError);
    await expect(refused).rejects.toMatchObject({ reason: "account_exists" });
    expect(calls).toHaveLength(0);
  });
});
