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
export declare class ProviderSignInError extends Error {
    /** The `error` of the query, e.g. `account_exists`. */
    readonly reason: string;
    constructor(reason: string);
}
/** A started provider sign-in: where to send the browser, and the PKCE verifier to keep. */
export interface ProviderSignInStart {
    /** Open it in the browser (a navigation; on mobile, an in-app browser tab). */
    url: string;
    /** Keep it until the code comes back; {@link PortcullisClient.completeProviderSignIn} needs it. */
    codeVerifier: string;
}
/** An RFC 7636 PKCE pair. */
export interface PkcePair {
    /** The secret the app keeps: 43 base64url characters (256 random bits). */
    verifier: string;
    /** What the start carries: `BASE64URL(SHA256(verifier))` (S256). */
    challenge: string;
}
/** A fresh RFC 7636 verifier (256 random bits) and its S256 challenge. */
export declare function pkcePair(): Promise<PkcePair>;
/** A non-2xx answer: its problem document, with `code` to switch on. */
export declare class PortcullisError extends Error {
    /** The HTTP status. */
    readonly status: number;
    /** The stable error code to switch on, e.g. `invalid_credentials`. */
    readonly code: ErrorCode;
    /** The whole problem document (`detail`, and `errors` for `validation_failed`). */
    readonly problem: Problem;
    /** Seconds from `Retry-After`, on 429 and 503. */
    readonly retryAfter: number | undefined;
    constructor(status: number, problem: Problem, retryAfter: number | undefined);
}
/**
 * The password was right and the account has a second factor: within 300
 * seconds, call `client.loginMfa(challenge.mfaToken, { code })` (with `totp`
 * or `recovery_code` in `methods`), or `client.loginMfaWithPasskey(challenge)`
 * (with `passkey`).
 */
export declare class MfaRequired extends PortcullisError {
    /** The opaque token for the second step: 300 s, at most 5 tries. */
    readonly mfaToken: string;
    /** What the account has: `totp`, `recovery_code`, `passkey`. */
    readonly methods: MfaMethod[];
    /** With `passkey` in `methods`: the WebAuthn request options for the account's passkeys. */
    readonly passkeyOptions: PublicKeyCredentialRequestOptionsJSON | undefined;
    constructor(status: number, problem: Problem);
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
export declare class ConsentRequired extends PortcullisError {
    /** The scopes the app asks for. */
    readonly scopes: string[];
    constructor(status: number, problem: Problem);
}
export declare class StepUpRequired extends PortcullisError {
    constructor(status: number, problem: Problem);
}
/** Where a refresh token is kept in body mode (React Native: SecureStore, Keychain…). */
export interface TokenStorage {
    /** The stored refresh token, or `null`. */
    get(): Promise<string | null> | string | null;
    /** Keeps a new refresh token; `null` forgets it (logout, a refused refresh). */
    set(refreshToken: string | null): Promise<void> | void;
}
/** Keeps the refresh token in memory only (it is lost with the page or process). */
export declare class MemoryStorage implements TokenStorage {
    #private;
    /** The refresh token held in memory, or `null`. */
    get(): string | null;
    /** Holds (or, with `null`, forgets) the refresh token. */
    set(refreshToken: string | null): void;
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
} & ({
    /** The account's email address. */
    email: string;
    /** Give `email` or `username`, not both. */
    username?: never;
} | {
    /** The account's username (any case). */
    username: string;
    /** Give `email` or `username`, not both. */
    email?: never;
});
/** What finishes a login's second step (see {@link PortcullisClient.loginMfa}). */
export type SecondFactor = {
    /** The 6-digit code the authenticator app shows. */
    code: string;
} | {
    /** One of the ten recovery codes; it is spent. */
    recovery_code: string;
} | {
    /** A passkey's answer to `MfaRequired.passkeyOptions`. */
    credential: PublicKeyCredentialJSON;
};
/** Whose passkey may answer: an account's (by email or username), or any discoverable one. */
export type PasskeyLoginHint = {
    /** The account's email: its passkeys are offered. */
    email: string;
} | {
    /** The account's username: its passkeys are offered. */
    username: string;
} | Record<string, never>;
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
export declare const browserWebAuthn: WebAuthnDriver;
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
export declare class PortcullisClient {
    #private;
    constructor(options: ClientOptions);
    /**
     * The current access token, if any (for calls to your own resource servers, use `accessToken()`).
     *
     * @example
     * ```ts
     * const token = auth.currentAccessToken; // null before login or after logout
     * ```
     */
    get currentAccessToken(): string | null;
    /**
     * Creates an account (`username`, `email`, `password`); log in afterwards.
     *
     * @example
     * ```ts
     * const user = await auth.register({ username: "ada", email: "ada@example.com", password });
     * // then: await auth.login({ email: "ada@example.com", password });
     * ```
     */
    register(body: Schemas["RegisterRequest"]): Promise<User>;
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
    login(request: LoginRequest): Promise<User>;
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
    loginMfa(mfaToken: string, factor: SecondFactor): Promise<User>;
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
    loginMfaWithPasskey(challenge: MfaRequired): Promise<User>;
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
    requestEmailLogin(email: string, redirectTo?: string): Promise<void>;
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
    loginWithEmail(proof: {
        token: string;
    } | {
        email: string;
        code: string;
    }, remember?: boolean): Promise<User>;
    /**
     * The providers users may sign in with (empty when the server has none).
     *
     * @example
     * ```ts
     * for (const { id, name } of await auth.providers()) addButton(`Sign in with ${name}`, id);
     * ```
     */
    providers(): Promise<Provider[]>;
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
    startProviderSignIn(provider: string, redirectTo: string, remember?: boolean): Promise<ProviderSignInStart>;
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
    signInWithProvider(provider: string, redirectTo: string, remember?: boolean): Promise<void>;
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
    completeProviderSignIn(query?: string | URLSearchParams, codeVerifier?: string): Promise<User>;
    /**
     * The account's identities at other providers.
     *
     * @example
     * ```ts
     * for (const identity of await auth.identities()) console.log(identity.provider, identity.email);
     * ```
     */
    identities(): Promise<Identity[]>;
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
    linkProvider(provider: string, redirectTo: string): Promise<void>;
    /**
     * Unlinks one of the account's identities (`409 last_login_method` when it
     * is the account's only way to log in).
     *
     * @example
     * ```ts
     * await auth.unlinkIdentity(identity.id);
     * ```
     */
    unlinkIdentity(id: string): Promise<void>;
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
    authorizationRequest(requestId: string): Promise<AuthorizationRequest>;
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
    acceptAuthorizationRequest(requestId: string, consent?: boolean): Promise<string>;
    /**
     * The user declines an app's authorization request; resolves to where the
     * browser goes next (the app, with `error=access_denied`).
     *
     * @example
     * ```ts
     * location.assign(await auth.rejectAuthorizationRequest(requestId));
     * ```
     */
    rejectAuthorizationRequest(requestId: string): Promise<string>;
    /**
     * The apps the logged-in user consented to, most recent first.
     *
     * @example
     * ```ts
     * for (const consent of await auth.consents()) console.log(consent.client_name, consent.scopes);
     * ```
     */
    consents(): Promise<Consent[]>;
    /**
     * Withdraws consent to an app: its tokens for this user stop working.
     *
     * @example
     * ```ts
     * await auth.revokeConsent(consent.client_id);
     * ```
     */
    revokeConsent(clientId: string): Promise<void>;
    /**
     * Adds a passkey to the logged-in account: the password again, then the
     * browser asks the user to create it. Resolves to the stored passkey.
     *
     * @example
     * ```ts
     * const passkey = await auth.addPasskey(password, "MacBook");   // { id, name, created_at, last_used_at }
     * ```
     */
    addPasskey(password: string, name: string): Promise<Passkey>;
    /**
     * The account's passkeys.
     *
     * @example
     * ```ts
     * for (const passkey of await auth.passkeys()) console.log(passkey.name, passkey.last_used_at);
     * ```
     */
    passkeys(): Promise<Passkey[]>;
    /**
     * Removes one of the account's passkeys.
     *
     * @example
     * ```ts
     * await auth.removePasskey(passkey.id);
     * ```
     */
    removePasskey(id: string): Promise<void>;
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
    loginWithPasskey(hint?: PasskeyLoginHint, remember?: boolean): Promise<User>;
    /**
     * Changes the username (`PATCH /me`); `409 username_taken` if another account has it.
     *
     * @example
     * ```ts
     * const user = await auth.changeUsername("ada.lovelace");
     * ```
     */
    changeUsername(username: string): Promise<User>;
    /**
     * Changes the password; the user's other sessions end. `403 wrong_password`.
     *
     * @example
     * ```ts
     * await auth.changePassword(currentPassword, "a different long passphrase");
     * ```
     */
    changePassword(currentPassword: string, newPassword: string): Promise<void>;
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
    changeEmail(newEmail: string, password: string): Promise<void>;
    /**
     * Mails a new verification link (none if the address is verified already).
     *
     * @example
     * ```ts
     * await auth.resendVerification();
     * ```
     */
    resendVerification(): Promise<void>;
    /**
     * Deletes the account, its sessions and tokens; `409 last_admin` for the last admin.
     *
     * @example
     * ```ts
     * await auth.deleteAccount(password);   // onSessionEnd("logout") follows
     * ```
     */
    deleteAccount(password: string): Promise<void>;
    /**
     * The user's live sessions, newest first (`current` marks this one).
     *
     * @example
     * ```ts
     * const others = (await auth.sessions()).filter((session) => !session.current);
     * ```
     */
    sessions(): Promise<Session[]>;
    /**
     * Ends one of the user's sessions (a lost phone's, say).
     *
     * @example
     * ```ts
     * await auth.revokeSession(others[0].id);
     * ```
     */
    revokeSession(id: string): Promise<void>;
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
    enrollTotp(password: string): Promise<TotpEnrollment>;
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
    confirmTotp(code: string): Promise<string[]>;
    /**
     * Turns TOTP off: the password and a current code (TOTP or a recovery code).
     *
     * @example
     * ```ts
     * await auth.disableTotp(password, codeFromTheApp);
     * ```
     */
    disableTotp(password: string, code: string): Promise<void>;
    /**
     * Ten new recovery codes (the old set stops working): the password and a current code.
     *
     * @example
     * ```ts
     * const recoveryCodes = await auth.regenerateRecoveryCodes(password, codeFromTheApp);
     * ```
     */
    regenerateRecoveryCodes(password: string, code: string): Promise<string[]>;
    /**
     * Mails a reset link if the address has an account (the answer is the same either way).
     *
     * @example
     * ```ts
     * await auth.forgotPassword("ada@example.com");   // "check your mail", whatever the address
     * ```
     */
    forgotPassword(email: string): Promise<void>;
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
    resetPassword(token: string, newPassword: string): Promise<void>;
    /**
     * Proves the address with the token of a verification (or email-change) link.
     *
     * @example
     * ```ts
     * await auth.verifyEmail(new URLSearchParams(location.search).get("token") ?? "");
     * ```
     */
    verifyEmail(token: string): Promise<void>;
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
    refresh(): Promise<TokenPair>;
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
    restore(): Promise<User | null>;
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
    accessToken(): Promise<string>;
    /**
     * The logged-in user (`GET /me`).
     *
     * @example
     * ```ts
     * const { username, email, mfa } = await auth.me();
     * ```
     */
    me(): Promise<User>;
    /**
     * Ends this session (or, with `all`, every session of the user).
     *
     * @example
     * ```ts
     * await auth.logout();       // this session
     * await auth.logout(true);   // every session of the user
     * ```
     */
    logout(all?: boolean): Promise<void>;
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
    request<T>(method: string, path: string, body?: unknown): Promise<T>;
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
export declare function createClient(options: ClientOptions): PortcullisClient;
