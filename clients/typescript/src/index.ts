// A small typed client for the Portcullis API. The types come from the
// committed OpenAPI document (`npm run generate` writes src/schema.d.ts); this
// file is the part every app would otherwise write itself: logging in (with the
// second-factor step), keeping the access token fresh with one refresh at a
// time, and turning problem+json answers into typed errors.

import type { components } from "./schema.js";

export type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type TokenPair = Schemas["TokenPair"];
export type Problem = Schemas["Problem"];
/** Every error code the API can answer with. */
export type ErrorCode = Problem["code"];
export type MfaMethod = Schemas["MfaMethod"];
export type Passkey = Schemas["PasskeyView"];

/** A non-2xx answer: its problem document, with `code` to switch on. */
export class PortcullisError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly problem: Problem;
  /** Seconds from `Retry-After`, on 429 and 503. */
  readonly retryAfter: number | undefined;

  constructor(status: number, problem: Problem, retryAfter: number | undefined) {
    super(problem.detail ?? problem.title);
    this.name = "PortcullisError";
    this.status = status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/**
 * The password was right and the account has a second factor: within 300
 * seconds, call `client.loginMfa(challenge.mfaToken, { code })` (with `totp`
 * or `recovery_code` in `methods`), or `client.loginMfaWithPasskey(challenge)`
 * (with `passkey`).
 */
export class MfaRequired extends PortcullisError {
  readonly mfaToken: string;
  /** What the account has: `totp`, `recovery_code`, `passkey`. */
  readonly methods: MfaMethod[];
  /** With `passkey` in `methods`: the WebAuthn request options for the account's passkeys. */
  readonly passkeyOptions: PublicKeyCredentialRequestOptionsJSON | undefined;

  constructor(status: number, problem: Problem) {
    super(status, problem, undefined);
    this.name = "MfaRequired";
    this.mfaToken = problem.mfa_token ?? "";
    this.methods = problem.methods ?? [];
    this.passkeyOptions = (problem.passkey_options ?? undefined) as unknown as
      | PublicKeyCredentialRequestOptionsJSON
      | undefined;
  }
}

/**
 * `403 step_up_required`: the account has a second factor and this session was
 * opened without one, so it may not add or remove a factor. Log in again with
 * the second factor (or a passkey), then retry.
 */
export class StepUpRequired extends PortcullisError {
  constructor(status: number, problem: Problem) {
    super(status, problem, undefined);
    this.name = "StepUpRequired";
  }
}

/** Where a refresh token is kept in body mode (React Native: SecureStore, Keychain…). */
export interface TokenStorage {
  get(): Promise<string | null> | string | null;
  set(refreshToken: string | null): Promise<void> | void;
}

/** Keeps the refresh token in memory only (it is lost with the page or process). */
export class MemoryStorage implements TokenStorage {
  #token: string | null = null;
  get(): string | null {
    return this.#token;
  }
  set(refreshToken: string | null): void {
    this.#token = refreshToken;
  }
}

export interface ClientOptions {
  /** The API's origin, e.g. `https://auth.example.com`. */
  baseUrl: string;
  /**
   * `cookie` (browsers): the refresh token lives in an HttpOnly cookie the
   * script never sees. `body` (mobile, servers): it comes in the JSON and is
   * kept in `storage`.
   */
  mode: "cookie" | "body";
  /** Body mode only; defaults to memory. */
  storage?: TokenStorage;
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshLeewaySeconds?: number;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** A clock in milliseconds, for tests. */
  now?: () => number;
  /** Called when the session ends (logout, or a refresh that was refused). */
  onSessionEnd?: (reason: ErrorCode | "logout") => void;
  /** Passkey ceremonies; defaults to the browser's (`browserWebAuthn`). */
  webauthn?: WebAuthnDriver;
}

export type LoginRequest = {
  password: string;
  remember?: boolean;
} & ({ email: string; username?: never } | { username: string; email?: never });

export type SecondFactor =
  | { code: string }
  | { recovery_code: string }
  | { credential: PublicKeyCredentialJSON };

/** Whose passkey may answer: an account's (by email or username), or any discoverable one. */
export type PasskeyLoginHint = { email: string } | { username: string } | Record<string, never>;

/**
 * The browser's two WebAuthn calls, taking and returning the WebAuthn JSON
 * the API speaks. `browserWebAuthn` is the real one; pass another to
 * `ClientOptions.webauthn` where there is no `navigator.credentials`.
 */
export interface WebAuthnDriver {
  create(options: PublicKeyCredentialCreationOptionsJSON): Promise<PublicKeyCredentialJSON>;
  get(options: PublicKeyCredentialRequestOptionsJSON): Promise<PublicKeyCredentialJSON>;
}

/** `navigator.credentials` with the standard JSON helpers (WebAuthn Level 3). */
export const browserWebAuthn: WebAuthnDriver = {
  async create(options) {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return asJson(await navigator.credentials.create({ publicKey }));
  },
  async get(options) {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    return asJson(await navigator.credentials.get({ publicKey }));
  },
};

function asJson(credential: Credential | null): PublicKeyCredentialJSON {
  if (!(credential instanceof PublicKeyCredential)) {
    throw new Error("the authenticator returned no passkey");
  }
  return credential.toJSON();
}

export class PortcullisClient {
  readonly #options: Required<Pick<ClientOptions, "baseUrl" | "mode" | "refreshLeewaySeconds">> &
    ClientOptions;
  readonly #fetch: typeof fetch;
  readonly #storage: TokenStorage;
  readonly #now: () => number;
  #accessToken: string | null = null;
  #expiresAt = 0;
  #refreshing: Promise<TokenPair> | null = null;

  constructor(options: ClientOptions) {
    this.#options = {
      refreshLeewaySeconds: 30,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#storage = options.storage ?? new MemoryStorage();
    this.#now = options.now ?? Date.now;
  }

  /** The current access token, if any (for calls to your own resource servers, use `accessToken()`). */
  get currentAccessToken(): string | null {
    return this.#accessToken;
  }

  async register(body: Schemas["RegisterRequest"]): Promise<User> {
    return this.#call<User>("POST", "/register", body);
  }

  /** Logs in; throws `MfaRequired` when the account has a second factor. */
  async login(request: LoginRequest): Promise<User> {
    const pair = await this.#call<TokenPair>("POST", "/login", {
      ...request,
      token_delivery: this.#options.mode,
    });
    return this.#accept(pair);
  }

  /**
   * The second step after `MfaRequired`: a TOTP code, a recovery code, or a
   * passkey's answer to `passkeyOptions` (see `loginMfaWithPasskey`).
   */
  async loginMfa(mfaToken: string, factor: SecondFactor): Promise<User> {
    const pair = await this.#call<TokenPair>("POST", "/login/mfa", {
      mfa_token: mfaToken,
      ...factor,
      token_delivery: this.#options.mode,
    });
    return this.#accept(pair);
  }

  /**
   * The second step after `MfaRequired` with `passkey` in its `methods`: the
   * browser asks for one of the account's passkeys, and its answer finishes
   * the login (`amr` `["pwd","hwk","mfa"]`). One passkey answer per challenge.
   */
  async loginMfaWithPasskey(challenge: MfaRequired): Promise<User> {
    if (challenge.passkeyOptions === undefined) {
      throw new Error("this login's second step offers no passkey (see challenge.methods)");
    }
    const credential = await this.#webauthn().get(challenge.passkeyOptions);
    return this.loginMfa(challenge.mfaToken, { credential });
  }

  /**
   * Adds a passkey to the logged-in account: the password again, then the
   * browser asks the user to create it. Resolves to the stored passkey.
   */
  async addPasskey(password: string, name: string): Promise<Passkey> {
    const ceremony = await this.request<Schemas["PasskeyCeremony"]>(
      "POST",
      "/me/passkeys/registration",
      { password },
    );
    const credential = await this.#webauthn().create(
      ceremony.options as unknown as PublicKeyCredentialCreationOptionsJSON,
    );
    return this.request<Passkey>("POST", "/me/passkeys", {
      ceremony_id: ceremony.ceremony_id,
      name,
      credential,
    });
  }

  /** The account's passkeys. */
  async passkeys(): Promise<Passkey[]> {
    return this.request<Passkey[]>("GET", "/me/passkeys");
  }

  /** Removes one of the account's passkeys. */
  async removePasskey(id: string): Promise<void> {
    await this.request<void>("DELETE", `/me/passkeys/${encodeURIComponent(id)}`);
  }

  /**
   * Logs in with a passkey: the account's (`{ email }` or `{ username }`), or
   * without a hint any discoverable passkey on the device. A passkey login is
   * a two-factor login: no `MfaRequired` follows.
   */
  async loginWithPasskey(hint: PasskeyLoginHint = {}, remember = false): Promise<User> {
    const ceremony = await this.#call<Schemas["PasskeyCeremony"]>(
      "POST",
      "/login/passkey/challenge",
      hint,
    );
    const credential = await this.#webauthn().get(
      ceremony.options as unknown as PublicKeyCredentialRequestOptionsJSON,
    );
    const pair = await this.#call<TokenPair>("POST", "/login/passkey", {
      ceremony_id: ceremony.ceremony_id,
      credential,
      remember,
      token_delivery: this.#options.mode,
    });
    return this.#accept(pair);
  }

  #webauthn(): WebAuthnDriver {
    return this.#options.webauthn ?? browserWebAuthn;
  }

  /**
   * Trades the refresh token (the cookie, or the stored one) for a new pair.
   * Calls made while a refresh is under way share it: ten parallel calls make
   * one request.
   */
  refresh(): Promise<TokenPair> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** An access token valid for at least the leeway, refreshing first if needed. */
  async accessToken(): Promise<string> {
    const leeway = this.#options.refreshLeewaySeconds * 1000;
    if (this.#accessToken === null || this.#now() >= this.#expiresAt - leeway) {
      await this.refresh();
    }
    if (this.#accessToken === null) {
      throw new Error("no session");
    }
    return this.#accessToken;
  }

  /** The logged-in user (`GET /me`). */
  async me(): Promise<User> {
    return this.request<User>("GET", "/me");
  }

  /** Ends this session (or, with `all`, every session of the user). */
  async logout(all = false): Promise<void> {
    try {
      await this.request<void>("POST", "/logout", all ? { all: true } : undefined);
    } finally {
      await this.#forget("logout");
    }
  }

  /**
   * A call with the access token, refreshed ahead of expiry; a `401
   * token_expired` (a clock off, a token revoked early) refreshes once and retries.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = await this.accessToken();
    try {
      return await this.#call<T>(method, path, body, token);
    } catch (error) {
      if (error instanceof PortcullisError && error.code === "token_expired") {
        await this.refresh();
        return this.#call<T>(method, path, body, this.#accessToken ?? undefined);
      }
      throw error;
    }
  }

  async #refreshOnce(): Promise<TokenPair> {
    const cookie = this.#options.mode === "cookie";
    const stored = cookie ? null : await this.#storage.get();
    if (!cookie && stored === null) {
      throw new Error("no refresh token stored: log in first");
    }
    try {
      const pair = await this.#call<TokenPair>(
        "POST",
        "/token/refresh",
        cookie ? undefined : { refresh_token: stored },
        undefined,
        cookie ? { "X-Requested-With": "portcullis" } : {},
      );
      await this.#accept(pair);
      return pair;
    } catch (error) {
      if (error instanceof PortcullisError && error.status === 401) {
        await this.#forget(error.code);
      }
      throw error;
    }
  }

  async #accept(pair: TokenPair): Promise<User> {
    this.#accessToken = pair.access_token;
    this.#expiresAt = this.#now() + pair.expires_in * 1000;
    if (this.#options.mode === "body" && pair.refresh_token) {
      await this.#storage.set(pair.refresh_token);
    }
    return pair.user;
  }

  async #forget(reason: ErrorCode | "logout"): Promise<void> {
    this.#accessToken = null;
    this.#expiresAt = 0;
    if (this.#options.mode === "body") {
      await this.#storage.set(null);
    }
    this.#options.onSessionEnd?.(reason);
  }

  async #call<T>(
    method: string,
    path: string,
    body: unknown,
    token?: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (this.#options.mode === "cookie") init.credentials = "include";
    const response = await this.#fetch(`${this.#options.baseUrl}${path}`, init);
    if (response.ok) {
      return (response.status === 204 ? undefined : await response.json()) as T;
    }
    throw await toError(response);
  }
}

async function toError(response: Response): Promise<PortcullisError> {
  let problem: Problem;
  try {
    problem = (await response.json()) as Problem;
  } catch {
    problem = {
      type: "about:blank",
      title: response.statusText,
      status: response.status,
      code: "internal_error",
    };
  }
  if (problem.code === "mfa_required") {
    return new MfaRequired(response.status, problem);
  }
  if (problem.code === "step_up_required") {
    return new StepUpRequired(response.status, problem);
  }
  const retryAfter = response.headers.get("Retry-After");
  return new PortcullisError(
    response.status,
    problem,
    retryAfter === null ? undefined : Number(retryAfter),
  );
}

export function createClient(options: ClientOptions): PortcullisClient {
  return new PortcullisClient(options);
}
