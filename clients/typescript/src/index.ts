// A small typed client for the Portcullis API. The types come from the
// committed OpenAPI document (`npm run generate` writes src/schema.d.ts); this
// file is the part every app would otherwise write itself: logging in (with the
// second-factor step), keeping the access token fresh with one refresh at a
// time, and turning problem+json answers into typed errors.

import type { components } from "./schema.js";

/**
 * The OpenAPI document's types, generated from `openapi/openapi.json`:
 * `components["schemas"]["User"]`, `paths["/login"]["post"]` and so on
 * (left out of this reference: the API's own reference is that document).
 * @hidden
 */
export type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
/** An account as the API shows it (`GET /me`, and every token pair's `user`). */
export type User = Schemas["User"];
/** A login's or refresh's answer; `refresh_token` is absent in cookie mode. */
export type TokenPair = Schemas["TokenPair"];
/** The RFC 9457 problem document of every non-2xx answer. */
export type Problem = Schemas["Problem"];
/** Every error code the API can answer with. */
export type ErrorCode = Problem["code"];
/** A second factor a login can finish with: `totp`, `recovery_code`, `passkey`. */
export type MfaMethod = Schemas["MfaMethod"];
/** One of the user's passkeys (`id`, `name`, `created_at`, `last_used_at`). */
export type Passkey = Schemas["PasskeyView"];
/** One of the user's live sessions, as `GET /me/sessions` lists it. */
export type Session = Schemas["Session"];
/** A pending TOTP secret: `secret` to type in, `otpauth_uri` to show as a QR code. */
export type TotpEnrollment = Schemas["TotpEnrollment"];
/** A provider users may sign in with (`id`, `name`). */
export type Provider = Schemas["ProviderView"];
/** An identity at another provider linked to the account. */
export type Identity = Schemas["IdentityView"];
/** An app's authorization request, as the login page shows it. */
export type AuthorizationRequest = Schemas["AuthorizationRequestView"];
/** An app the user consented to. */
export type Consent = Schemas["ConsentView"];

/**
 * Why a sign-in at another provider came back without a code: the `error`
 * the server put in `redirect_to`'s query (`account_exists`,
 * `email_not_verified`, `account_disabled`, `signup_closed`,
 * `provider_error`, `invalid_state`, `invalid_response`,
 * `provider_unavailable`, `identity_taken`).
 */
export class ProviderSignInError extends Error {
  /** The `error` of the query, e.g. `account_exists`. */
  readonly reason: string;

  constructor(reason: string) {
    super(`the sign-in at the provider did not finish: ${reason}`);
    this.name = "ProviderSignInError";
    this.reason = reason;
  }
}

/** A started provider sign-in: where to send the browser, and the PKCE verifier to keep. */
export interface ProviderSignInStart {
  /** Open it in the browser (a navigation; on mobile, an in-app browser tab). */
  url: string;
  /** Keep it until the code comes back; {@link PortcullisClient.completeProviderSignIn} needs it. */
  codeVerifier: string;
}

/** Where the PKCE verifier of a browser's provider sign-in waits for its code. */
const PKCE_STORAGE_KEY = "portcullis_pkce_verifier";

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An RFC 7636 PKCE pair. */
export interface PkcePair {
  /** The secret the app keeps: 43 base64url characters (256 random bits). */
  verifier: string;
  /** What the start carries: `BASE64URL(SHA256(verifier))` (S256). */
  challenge: string;
}

/** A fresh RFC 7636 verifier (256 random bits) and its S256 challenge. */
export async function pkcePair(): Promise<PkcePair> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/** A non-2xx answer: its problem document, with `code` to switch on. */
export class PortcullisError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The stable error code to switch on, e.g. `invalid_credentials`. */
  readonly code: ErrorCode;
  /** The whole problem document (`detail`, and `errors` for `validation_failed`). */
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
  /** The opaque token for the second step: 300 s, at most 5 tries. */
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
/**
 * Accepting an app's authorization request needs the user's consent to
 * `scopes`: show them, then accept again with `consent: true`.
 */
export class ConsentRequired extends PortcullisError {
  /** The scopes the app asks for. */
  readonly scopes: string[];

  constructor(status: number, problem: Problem) {
    super(status, problem, undefined);
    this.name = "ConsentRequired";
    this.scopes = problem.scopes ?? [];
  }
}

export class StepUpRequired extends PortcullisError {
  constructor(status: number, problem: Problem) {
    super(status, problem, undefined);
    this.name = "StepUpRequired";
  }
}

/** Where a refresh token is kept in body mode (React Native: SecureStore, Keychain…). */
export interface TokenStorage {
  /** The stored refresh token, or `null`. */
  get(): Promise<string | null> | string | null;
  /** Keeps a new refresh token; `null` forgets it (logout, a refused refresh). */
  set(refreshToken: string | null): Promise<void> | void;
}

/** Keeps the refresh token in memory only (it is lost with the page or process). */
export class MemoryStorage implements TokenStorage {
  #token: string | null = null;
  /** The refresh token held in memory, or `null`. */
  get(): string | null {
    return this.#token;
  }
  /** Holds (or, with `null`, forgets) the refresh token. */
  set(refreshToken: string | null): void {
    this.#token = refreshToken;
  }
}

/**
 * How a client talks to the API. Only `baseUrl` and `mode` are required:
 *
 * ```ts
 * const auth = createClient({ baseUrl: "http://localhost:8080", mode: "cookie" });
 * ```
 *
 * @example
 * ```ts
 * // Every option, for a browser app:
 * const auth = createClient({
 *   baseUrl: "https://auth.example.com",
 *   mode: "cookie",
 *   refreshLeewaySeconds: 60,                       // refresh a minute ahead
 *   onSessionEnd: (reason) => showLogin(reason),    // "logout", "refresh_token_reused", …
 *   sessionHintCookie: "portcullis_refresh_hint",   // COOKIE_NAME + "_hint"; false: always ask
 *   fetch: (input, init) => fetch(input, { ...init, keepalive: true }),
 * });
 * // A mobile app keeps the refresh token itself (body mode):
 * const mobile = createClient({
 *   baseUrl: "https://auth.example.com",
 *   mode: "body",
 *   storage: {
 *     get: () => SecureStore.getItemAsync("refresh_token"),
 *     set: (token) => token === null
 *       ? SecureStore.deleteItemAsync("refresh_token")
 *       : SecureStore.setItemAsync("refresh_token", token),
 *   },
 *   webauthn: nativePasskeys,                       // where navigator.credentials is missing
 *   now: () => Date.now(),
 * });
 * ```
 */
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
  /**
   * Refresh this many seconds before the access token expires (default 30).
   * Never more than a quarter of the token's lifetime, so a short
   * `ACCESS_TOKEN_TTL` does not make every call refresh.
   */
  refreshLeewaySeconds?: number;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** A clock in milliseconds, for tests. */
  now?: () => number;
  /** Called when the session ends (logout, or a refresh that was refused). */
  onSessionEnd?: (reason: ErrorCode | "logout") => void;
  /** Passkey ceremonies; defaults to the browser's (`browserWebAuthn`). */
  webauthn?: WebAuthnDriver;
  /**
   * Cookie mode: the name of the server's readable hint cookie,
   * `{COOKIE_NAME}_hint` (default `portcullis_refresh_hint`), which says a
   * refresh cookie is set; `false` to always ask the server. {@link
   * PortcullisClient.restore} reads it when the page and the API share a host
   * name (the only case where the page can see it), so a signed-out page load
   * makes no request and logs no `401`.
   */
  sessionHintCookie?: string | false;
}

/** A password login: the password and exactly one of `email` and `username`. */
export type LoginRequest = {
  /** The account's password. */
  password: string;
  /** `true` keeps the session for `REFRESH_TOKEN_TTL` (30 days by default), else at most a day. */
  remember?: boolean;
} & (
  | {
      /** The account's email address. */
      email: string;
      /** Give `email` or `username`, not both. */
      username?: never;
    }
  | {
      /** The account's username (any case). */
      username: string;
      /** Give `email` or `username`, not both. */
      email?: never;
    }
);

/** What finishes a login's second step (see {@link PortcullisClient.loginMfa}). */
export type SecondFactor =
  | {
      /** The 6-digit code the authenticator app shows. */
      code: string;
    }
  | {
      /** One of the ten recovery codes; it is spent. */
      recovery_code: string;
    }
  | {
      /** A passkey's answer to `MfaRequired.passkeyOptions`. */
      credential: PublicKeyCredentialJSON;
    };

/** Whose passkey may answer: an account's (by email or username), or any discoverable one. */
export type PasskeyLoginHint =
  | {
      /** The account's email: its passkeys are offered. */
      email: string;
    }
  | {
      /** The account's username: its passkeys are offered. */
      username: string;
    }
  | Record<string, never>;

/**
 * The browser's two WebAuthn calls, taking and returning the WebAuthn JSON
 * the API speaks. `browserWebAuthn` is the real one; pass another to
 * `ClientOptions.webauthn` where there is no `navigator.credentials`.
 */
export interface WebAuthnDriver {
  /** `navigator.credentials.create` with these options; the new credential as JSON. */
  create(options: PublicKeyCredentialCreationOptionsJSON): Promise<PublicKeyCredentialJSON>;
  /** `navigator.credentials.get` with these options; the assertion as JSON. */
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

/**
 * A session with Portcullis: login (with the second step), an access token
 * kept fresh by one refresh at a time, typed calls, and typed errors. Make
 * one per app with {@link createClient}.
 *
 * ```ts
 * const auth = createClient({ baseUrl: "http://localhost:8080", mode: "cookie" });
 * await auth.refresh().catch(() => showLogin());   // after a page load
 * const me = await auth.me();
 * ```
 */
export class PortcullisClient {
  readonly #options: Required<Pick<ClientOptions, "baseUrl" | "mode" | "refreshLeewaySeconds">> &
    ClientOptions;
  readonly #fetch: typeof fetch;
  readonly #storage: TokenStorage;
  readonly #now: () => number;
  #accessToken: string | null = null;
  #expiresAt = 0;
  /** Milliseconds the current access token was issued for. */
  #lifetime = 0;
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

  /**
   * The current access token, if any (for calls to your own resource servers, use `accessToken()`).
   *
   * @example
   * ```ts
   * const token = auth.currentAccessToken; // null before login or after logout
   * ```
   */
  get currentAccessToken(): string | null {
    return this.#accessToken;
  }

  /**
   * Creates an account (`username`, `email`, `password`); log in afterwards.
   *
   * @example
   * ```ts
   * const user = await auth.register({ username: "ada", email: "ada@example.com", password });
   * // then: await auth.login({ email: "ada@example.com", password });
   * ```
   */
  async register(body: Schemas["RegisterRequest"]): Promise<User> {
    return this.#call<User>("POST", "/register", body);
  }

  /**
   * Logs in; throws `MfaRequired` when the account has a second factor.
   *
   * @example
   * ```ts
   * try {
   *   const user = await auth.login({ email: "ada@example.com", password, remember: true });
   * } catch (error) {
   *   if (error instanceof MfaRequired) askForCode(error);          // second step
   *   else if (error instanceof PortcullisError && error.code === "invalid_credentials") showWrongPassword();
   *   else throw error;
   * }
   * ```
   */
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
   *
   * @example
   * ```ts
   * // error: the MfaRequired that login() threw
   * const user = await auth.loginMfa(error.mfaToken, { code: "492039" });
   * // or: await auth.loginMfa(error.mfaToken, { recovery_code: "7k2m-q9xe-4h1d-c0vr" });
   * ```
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
   *
   * @example
   * ```ts
   * if (error instanceof MfaRequired && error.methods.includes("passkey")) {
   *   const user = await auth.loginMfaWithPasskey(error);
   * }
   * ```
   */
  async loginMfaWithPasskey(challenge: MfaRequired): Promise<User> {
    if (challenge.passkeyOptions === undefined) {
      throw new Error("this login's second step offers no passkey (see challenge.methods)");
    }
    const credential = await this.#webauthn().get(challenge.passkeyOptions);
    return this.loginMfa(challenge.mfaToken, { credential });
  }

  /**
   * Mails a sign-in link and a 6-digit code to `email` (the server must have
   * `EMAIL_LOGIN=on`). The answer is the same whether or not the address has
   * an account. `redirectTo`: a page of an allowed origin the link leads to
   * (with `?token=…` added); by default the server's `MAGIC_LINK_URL`.
   *
   * @example
   * ```ts
   * await auth.requestEmailLogin("ada@example.com", "https://app.example.com/magic");
   * ```
   */
  async requestEmailLogin(email: string, redirectTo?: string): Promise<void> {
    await this.#call<void>("POST", "/login/email", {
      email,
      ...(redirectTo === undefined ? {} : { redirect_to: redirectTo }),
    } satisfies Schemas["EmailLoginRequest"]);
  }

  /**
   * Signs in with a mailed link's `token` (from the sign-in page's query) or
   * the address and its mailed `code`. Throws `MfaRequired` when the account
   * has a second factor, as `login` does.
   *
   * @example
   * ```ts
   * const token = new URLSearchParams(location.search).get("token");
   * const user = token
   *   ? await auth.loginWithEmail({ token })
   *   : await auth.loginWithEmail({ email: "ada@example.com", code: "493027" });
   * ```
   */
  async loginWithEmail(
    proof: { token: string } | { email: string; code: string },
    remember = false,
  ): Promise<User> {
    const pair = await this.#call<TokenPair>("POST", "/login/email/verify", {
      ...proof,
      remember,
      token_delivery: this.#options.mode,
    });
    return this.#accept(pair);
  }

  /**
   * The providers users may sign in with (empty when the server has none).
   *
   * @example
   * ```ts
   * for (const { id, name } of await auth.providers()) addButton(`Sign in with ${name}`, id);
   * ```
   */
  async providers(): Promise<Provider[]> {
    return this.#call<Provider[]>("GET", "/login/providers", undefined);
  }

  /**
   * Starts a sign-in at a provider with PKCE: the URL to open and the
   * verifier to keep until the code comes back to `redirectTo` (a page on an
   * origin of the server's `LOGIN_REDIRECT_ALLOWLIST`). For mobile apps
   * (open `url` in an in-app browser tab); in a browser,
   * {@link PortcullisClient.signInWithProvider} does it all.
   *
   * @example
   * ```ts
   * const { url, codeVerifier } = await auth.startProviderSignIn("google", "myapp://signed-in");
   * await SecureStore.setItemAsync("pkce", codeVerifier);
   * await WebBrowser.openAuthSessionAsync(url, "myapp://signed-in");
   * ```
   */
  async startProviderSignIn(
    provider: string,
    redirectTo: string,
    remember = false,
  ): Promise<ProviderSignInStart> {
    const { verifier, challenge } = await pkcePair();
    const url = new URL(`${this.#options.baseUrl}/login/providers/${encodeURIComponent(provider)}`);
    url.searchParams.set("redirect_to", redirectTo);
    url.searchParams.set("code_challenge", challenge);
    url.searchParams.set("code_challenge_method", "S256");
    if (remember) url.searchParams.set("remember", "true");
    return { url: url.toString(), codeVerifier: verifier };
  }

  /**
   * Sends the browser to a provider's sign-in; it comes back to `redirectTo`
   * (a page of this app on an allowed origin), where
   * {@link PortcullisClient.completeProviderSignIn} finishes it. The PKCE
   * verifier waits in `sessionStorage` meanwhile.
   *
   * @example
   * ```ts
   * button.onclick = () => auth.signInWithProvider("github", `${location.origin}/signed-in`);
   * ```
   */
  async signInWithProvider(provider: string, redirectTo: string, remember = false): Promise<void> {
    const { url, codeVerifier } = await this.startProviderSignIn(provider, redirectTo, remember);
    sessionStorage.setItem(PKCE_STORAGE_KEY, codeVerifier);
    location.assign(url);
  }

  /**
   * Finishes a provider sign-in on the page it came back to: exchanges the
   * `code` of the query for a session (with the PKCE verifier kept by
   * {@link PortcullisClient.signInWithProvider}, or the one given). Throws
   * `ProviderSignInError` when the query carries an `error` instead (e.g.
   * `account_exists`: sign in as usual, then link the provider), and
   * `MfaRequired` when the account has a second factor.
   *
   * @example
   * ```ts
   * // On the page at redirectTo:
   * try {
   *   const user = await auth.completeProviderSignIn();
   * } catch (error) {
   *   if (error instanceof ProviderSignInError && error.reason === "account_exists") showLinkHint();
   * }
   * ```
   */
  async completeProviderSignIn(
    query: string | URLSearchParams = location.search,
    codeVerifier?: string,
  ): Promise<User> {
    const params = typeof query === "string" ? new URLSearchParams(query) : query;
    const error = params.get("error");
    if (error !== null) throw new ProviderSignInError(error);
    const code = params.get("code");
    if (code === null) throw new ProviderSignInError("no_code");
    let verifier = codeVerifier;
    if (verifier === undefined && typeof sessionStorage !== "undefined") {
      verifier = sessionStorage.getItem(PKCE_STORAGE_KEY) ?? undefined;
      sessionStorage.removeItem(PKCE_STORAGE_KEY);
    }
    const pair = await this.#call<TokenPair>("POST", "/login/code", {
      code,
      ...(verifier === undefined ? {} : { code_verifier: verifier }),
      token_delivery: this.#options.mode,
    } satisfies Schemas["LoginCodeRequest"]);
    return this.#accept(pair);
  }

  /**
   * The account's identities at other providers.
   *
   * @example
   * ```ts
   * for (const identity of await auth.identities()) console.log(identity.provider, identity.email);
   * ```
   */
  async identities(): Promise<Identity[]> {
    return this.request<Identity[]>("GET", "/me/identities");
  }

  /**
   * Links an identity at a provider to the logged-in account: sends the
   * browser there and back to `redirectTo` with `?linked={provider}` (or
   * `?error=…`). On an account with a second factor, only from a session
   * opened with it (`StepUpRequired`).
   *
   * @example
   * ```ts
   * await auth.linkProvider("google", `${location.origin}/account`);
   * ```
   */
  async linkProvider(provider: string, redirectTo: string): Promise<void> {
    const { url } = await this.request<Schemas["LinkIdentityStart"]>(
      "POST",
      `/me/identities/${encodeURIComponent(provider)}`,
      { redirect_to: redirectTo } satisfies Schemas["LinkIdentityRequest"],
    );
    location.assign(url);
  }

  /**
   * Unlinks one of the account's identities (`409 last_login_method` when it
   * is the account's only way to log in).
   *
   * @example
   * ```ts
   * await auth.unlinkIdentity(identity.id);
   * ```
   */
  async unlinkIdentity(id: string): Promise<void> {
    await this.request<void>("DELETE", `/me/identities/${encodeURIComponent(id)}`);
  }

  /**
   * What an app's authorization request asks for (a login page opened with
   * `?request_id=…` by `/oauth2/authorize`): the app and the scopes.
   *
   * @example
   * ```ts
   * const request = await auth.authorizationRequest(new URL(location.href).searchParams.get("request_id")!);
   * console.log(request.client.name, request.scopes);
   * ```
   */
  async authorizationRequest(requestId: string): Promise<AuthorizationRequest> {
    return this.#call<AuthorizationRequest>(
      "GET",
      `/oauth2/requests/${encodeURIComponent(requestId)}`,
      undefined,
    );
  }

  /**
   * The logged-in user accepts an app's authorization request; resolves to
   * where the browser goes next (the app, with a code). Throws
   * `ConsentRequired` (with `scopes`) until called with `consent: true` for
   * an app that needs it; `StepUpRequired` when the app asked for a fresh
   * login (`prompt=login`, `max_age`). Sets the single sign-on cookie, so the
   * next app's request skips the login.
   *
   * @example
   * ```ts
   * try {
   *   location.assign(await auth.acceptAuthorizationRequest(requestId));
   * } catch (error) {
   *   if (!(error instanceof ConsentRequired)) throw error;
   *   if (confirm(`Allow ${error.scopes.join(", ")}?`)) {
   *     location.assign(await auth.acceptAuthorizationRequest(requestId, true));
   *   }
   * }
   * ```
   */
  async acceptAuthorizationRequest(requestId: string, consent = false): Promise<string> {
    const token = await this.accessToken();
    const { redirect_to } = await this.#call<Schemas["RedirectView"]>(
      "POST",
      `/oauth2/requests/${encodeURIComponent(requestId)}/accept`,
      { consent } satisfies Schemas["AcceptRequest"],
      token,
      {},
      true,
    );
    return redirect_to;
  }

  /**
   * The user declines an app's authorization request; resolves to where the
   * browser goes next (the app, with `error=access_denied`).
   *
   * @example
   * ```ts
   * location.assign(await auth.rejectAuthorizationRequest(requestId));
   * ```
   */
  async rejectAuthorizationRequest(requestId: string): Promise<string> {
    const { redirect_to } = await this.#call<Schemas["RedirectView"]>(
      "POST",
      `/oauth2/requests/${encodeURIComponent(requestId)}/reject`,
      undefined,
    );
    return redirect_to;
  }

  /**
   * The apps the logged-in user consented to, most recent first.
   *
   * @example
   * ```ts
   * for (const consent of await auth.consents()) console.log(consent.client_name, consent.scopes);
   * ```
   */
  async consents(): Promise<Consent[]> {
    return this.request<Consent[]>("GET", "/me/consents");
  }

  /**
   * Withdraws consent to an app: its tokens for this user stop working.
   *
   * @example
   * ```ts
   * await auth.revokeConsent(consent.client_id);
   * ```
   */
  async revokeConsent(clientId: string): Promise<void> {
    await this.request<void>("DELETE", `/me/consents/${encodeURIComponent(clientId)}`);
  }

  /**
   * Adds a passkey to the logged-in account: the password again, then the
   * browser asks the user to create it. Resolves to the stored passkey.
   *
   * @example
   * ```ts
   * const passkey = await auth.addPasskey(password, "MacBook");   // { id, name, created_at, last_used_at }
   * ```
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

  /**
   * The account's passkeys.
   *
   * @example
   * ```ts
   * for (const passkey of await auth.passkeys()) console.log(passkey.name, passkey.last_used_at);
   * ```
   */
  async passkeys(): Promise<Passkey[]> {
    return this.request<Passkey[]>("GET", "/me/passkeys");
  }

  /**
   * Removes one of the account's passkeys.
   *
   * @example
   * ```ts
   * await auth.removePasskey(passkey.id);
   * ```
   */
  async removePasskey(id: string): Promise<void> {
    await this.request<void>("DELETE", `/me/passkeys/${encodeURIComponent(id)}`);
  }

  /**
   * Logs in with a passkey: the account's (`{ email }` or `{ username }`), or
   * without a hint any discoverable passkey on the device. A passkey login is
   * a two-factor login: no `MfaRequired` follows.
   *
   * @example
   * ```ts
   * const user = await auth.loginWithPasskey({ email: "ada@example.com" });
   * // or, usernameless: await auth.loginWithPasskey();
   * ```
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

  // ---- The account, for a logged-in user.

  /**
   * Changes the username (`PATCH /me`); `409 username_taken` if another account has it.
   *
   * @example
   * ```ts
   * const user = await auth.changeUsername("ada.lovelace");
   * ```
   */
  async changeUsername(username: string): Promise<User> {
    return this.request<User>("PATCH", "/me", { username } satisfies Schemas["UpdateMeRequest"]);
  }

  /**
   * Changes the password; the user's other sessions end. `403 wrong_password`.
   *
   * @example
   * ```ts
   * await auth.changePassword(currentPassword, "a different long passphrase");
   * ```
   */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.request<void>("PUT", "/me/password", {
      current_password: currentPassword,
      new_password: newPassword,
    } satisfies Schemas["ChangePasswordRequest"]);
  }

  /**
   * Asks to move the account to `newEmail`: a link goes to the new address
   * (nothing changes until it is opened) and a notice to the old one.
   *
   * @example
   * ```ts
   * await auth.changeEmail("ada@new.example", password);
   * // the link mailed to ada@new.example goes to your page, which calls auth.verifyEmail(token)
   * ```
   */
  async changeEmail(newEmail: string, password: string): Promise<void> {
    await this.request<void>("PUT", "/me/email", {
      new_email: newEmail,
      password,
    } satisfies Schemas["ChangeEmailRequest"]);
  }

  /**
   * Mails a new verification link (none if the address is verified already).
   *
   * @example
   * ```ts
   * await auth.resendVerification();
   * ```
   */
  async resendVerification(): Promise<void> {
    await this.request<void>("POST", "/me/email/verification");
  }

  /**
   * Deletes the account, its sessions and tokens; `409 last_admin` for the last admin.
   *
   * @example
   * ```ts
   * await auth.deleteAccount(password);   // onSessionEnd("logout") follows
   * ```
   */
  async deleteAccount(password: string): Promise<void> {
    await this.request<void>("DELETE", "/account", {
      password,
    } satisfies Schemas["DeleteAccountRequest"]);
    await this.#forget("logout");
  }

  /**
   * The user's live sessions, newest first (`current` marks this one).
   *
   * @example
   * ```ts
   * const others = (await auth.sessions()).filter((session) => !session.current);
   * ```
   */
  async sessions(): Promise<Session[]> {
    return this.request<Session[]>("GET", "/me/sessions");
  }

  /**
   * Ends one of the user's sessions (a lost phone's, say).
   *
   * @example
   * ```ts
   * await auth.revokeSession(others[0].id);
   * ```
   */
  async revokeSession(id: string): Promise<void> {
    await this.request<void>("DELETE", `/me/sessions/${encodeURIComponent(id)}`);
  }

  // ---- Two-factor authentication.

  /**
   * Starts turning TOTP on (the password again): show `otpauth_uri` as a QR
   * code or `secret` for typing, then call `confirmTotp` with the app's first
   * code. `StepUpRequired` if the account has a passkey and this session was
   * opened without a second factor.
   *
   * @example
   * ```ts
   * const { secret, otpauth_uri } = await auth.enrollTotp(password);
   * showQrCode(otpauth_uri);   // or show `secret` for typing
   * ```
   */
  async enrollTotp(password: string): Promise<TotpEnrollment> {
    return this.request<TotpEnrollment>("POST", "/me/mfa/totp", {
      password,
    } satisfies Schemas["TotpEnrollRequest"]);
  }

  /**
   * Turns TOTP on with the authenticator app's first code. Resolves to the
   * ten recovery codes, shown only now; the user's other sessions end.
   *
   * @example
   * ```ts
   * const recoveryCodes = await auth.confirmTotp(codeFromTheApp);
   * showOnce(recoveryCodes);
   * ```
   */
  async confirmTotp(code: string): Promise<string[]> {
    const answer = await this.request<Schemas["RecoveryCodes"]>("POST", "/me/mfa/totp/confirm", {
      code,
    } satisfies Schemas["TotpConfirmRequest"]);
    return answer.recovery_codes;
  }

  /**
   * Turns TOTP off: the password and a current code (TOTP or a recovery code).
   *
   * @example
   * ```ts
   * await auth.disableTotp(password, codeFromTheApp);
   * ```
   */
  async disableTotp(password: string, code: string): Promise<void> {
    await this.request<void>("DELETE", "/me/mfa/totp", {
      password,
      code,
    } satisfies Schemas["StepUpRequest"]);
  }

  /**
   * Ten new recovery codes (the old set stops working): the password and a current code.
   *
   * @example
   * ```ts
   * const recoveryCodes = await auth.regenerateRecoveryCodes(password, codeFromTheApp);
   * ```
   */
  async regenerateRecoveryCodes(password: string, code: string): Promise<string[]> {
    const answer = await this.request<Schemas["RecoveryCodes"]>("POST", "/me/mfa/recovery-codes", {
      password,
      code,
    } satisfies Schemas["StepUpRequest"]);
    return answer.recovery_codes;
  }

  // ---- Without a session: recovery and verification links.

  /**
   * Mails a reset link if the address has an account (the answer is the same either way).
   *
   * @example
   * ```ts
   * await auth.forgotPassword("ada@example.com");   // "check your mail", whatever the address
   * ```
   */
  async forgotPassword(email: string): Promise<void> {
    await this.#call<void>("POST", "/password/forgot", {
      email,
    } satisfies Schemas["ForgotPasswordRequest"]);
  }

  /**
   * Sets a new password with the token of a reset link; every session of the account ends.
   *
   * @example
   * ```ts
   * const token = new URLSearchParams(location.search).get("token") ?? "";
   * await auth.resetPassword(token, "a fresh long passphrase");
   * // every session has ended: log in with the new password
   * ```
   */
  async resetPassword(token: string, newPassword: string): Promise<void> {
    await this.#call<void>("POST", "/password/reset", {
      token,
      new_password: newPassword,
    } satisfies Schemas["ResetPasswordRequest"]);
  }

  /**
   * Proves the address with the token of a verification (or email-change) link.
   *
   * @example
   * ```ts
   * await auth.verifyEmail(new URLSearchParams(location.search).get("token") ?? "");
   * ```
   */
  async verifyEmail(token: string): Promise<void> {
    await this.#call<void>("POST", "/email/verify", {
      token,
    } satisfies Schemas["VerifyEmailRequest"]);
  }

  #webauthn(): WebAuthnDriver {
    return this.#options.webauthn ?? browserWebAuthn;
  }

  /**
   * Trades the refresh token (the cookie, or the stored one) for a new pair.
   * Calls made while a refresh is under way share it: ten parallel calls make
   * one request.
   *
   * @example
   * ```ts
   * const pair = await auth.refresh();   // { access_token, expires_in, user, … }
   * ```
   */
  refresh(): Promise<TokenPair> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /**
   * After a page load (or an app start): the signed-in user, or `null` when
   * there is no session. Never throws for "no session", and in cookie mode,
   * when the page is on the API's host name, asks nothing of the server when
   * signed out: the server's readable hint cookie (see
   * `ClientOptions.sessionHintCookie`) says whether there is a refresh cookie.
   * Otherwise it refreshes, and a `401` answers `null`.
   *
   * @example
   * ```ts
   * const user = await auth.restore();
   * if (user === null) showLogin();
   * else showApp(user);
   * ```
   */
  async restore(): Promise<User | null> {
    if (!(await this.#mightHaveSession())) return null;
    try {
      return (await this.refresh()).user;
    } catch (error) {
      if (error instanceof PortcullisError && error.status === 401) return null;
      throw error;
    }
  }

  async #mightHaveSession(): Promise<boolean> {
    if (this.#options.mode === "body") return (await this.#storage.get()) !== null;
    const hint = this.#options.sessionHintCookie ?? "portcullis_refresh_hint";
    const page = globalThis as { document?: { cookie?: string }; location?: { href: string; hostname: string } };
    if (hint === false || page.document?.cookie === undefined || page.location === undefined) {
      return true;
    }
    // A cookie of another host name is not the page's to read.
    if (new URL(this.#options.baseUrl, page.location.href).hostname !== page.location.hostname) {
      return true;
    }
    return page.document.cookie.split(/;\s*/).some((pair) => pair.startsWith(`${hint}=`));
  }

  /**
   * An access token valid for at least the leeway, refreshing first if needed.
   *
   * @example
   * ```ts
   * const response = await fetch("https://api.example.com/orders", {
   *   headers: { Authorization: `Bearer ${await auth.accessToken()}` },
   * });
   * ```
   */
  async accessToken(): Promise<string> {
    const leeway = Math.min(this.#options.refreshLeewaySeconds * 1000, this.#lifetime / 4);
    if (this.#accessToken === null || this.#now() >= this.#expiresAt - leeway) {
      await this.refresh();
    }
    if (this.#accessToken === null) {
      throw new Error("no session");
    }
    return this.#accessToken;
  }

  /**
   * The logged-in user (`GET /me`).
   *
   * @example
   * ```ts
   * const { username, email, mfa } = await auth.me();
   * ```
   */
  async me(): Promise<User> {
    return this.request<User>("GET", "/me");
  }

  /**
   * Ends this session (or, with `all`, every session of the user).
   *
   * @example
   * ```ts
   * await auth.logout();       // this session
   * await auth.logout(true);   // every session of the user
   * ```
   */
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
   *
   * @example
   * ```ts
   * const events = await auth.request<unknown[]>("GET", "/me/sessions");
   * await auth.request("DELETE", `/me/sessions/${id}`);
   * ```
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
    this.#lifetime = pair.expires_in * 1000;
    this.#expiresAt = this.#now() + this.#lifetime;
    if (this.#options.mode === "body" && pair.refresh_token) {
      await this.#storage.set(pair.refresh_token);
    }
    return pair.user;
  }

  async #forget(reason: ErrorCode | "logout"): Promise<void> {
    this.#accessToken = null;
    this.#expiresAt = 0;
    this.#lifetime = 0;
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
    withCookies = false,
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (withCookies || this.#options.mode === "cookie") init.credentials = "include";
    const response = await this.#fetch(`${this.#options.baseUrl}${path}`, init);
    if (response.ok) {
      // 202 and 204 answers carry no body.
      const text = response.status === 204 ? "" : await response.text();
      return (text === "" ? undefined : JSON.parse(text)) as T;
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
  if (problem.code === "consent_required") {
    return new ConsentRequired(response.status, problem);
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

/**
 * A client for one Portcullis service; see {@link ClientOptions}.
 *
 * @example
 * ```ts
 * const auth = createClient({
 *   baseUrl: "http://localhost:8080",
 *   mode: "cookie",
 *   onSessionEnd: () => showLogin(),
 * });
 * ```
 */
export function createClient(options: ClientOptions): PortcullisClient {
  return new PortcullisClient(options);
}
