// A small typed client for the Portcullis API. The types come from the
// committed OpenAPI document (`npm run generate` writes src/schema.d.ts); this
// file is the part every app would otherwise write itself: logging in (with the
// second-factor step), keeping the access token fresh with one refresh at a
// time, and turning problem+json answers into typed errors.
/**
 * Why a sign-in at another provider came back without a code: the `error`
 * the server put in `redirect_to`'s query (`account_exists`,
 * `email_not_verified`, `account_disabled`, `signup_closed`,
 * `provider_error`, `invalid_state`, `invalid_response`,
 * `provider_unavailable`, `identity_taken`).
 */
export class ProviderSignInError extends Error {
    /** The `error` of the query, e.g. `account_exists`. */
    reason;
    constructor(reason) {
        super(`the sign-in at the provider did not finish: ${reason}`);
        this.name = "ProviderSignInError";
        this.reason = reason;
    }
}
/** Where the PKCE verifier of a browser's provider sign-in waits for its code. */
const PKCE_STORAGE_KEY = "portcullis_pkce_verifier";
function base64url(bytes) {
    let binary = "";
    for (const byte of bytes)
        binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
/** A fresh RFC 7636 verifier (256 random bits) and its S256 challenge. */
export async function pkcePair() {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return { verifier, challenge: base64url(new Uint8Array(digest)) };
}
/** A non-2xx answer: its problem document, with `code` to switch on. */
export class PortcullisError extends Error {
    /** The HTTP status. */
    status;
    /** The stable error code to switch on, e.g. `invalid_credentials`. */
    code;
    /** The whole problem document (`detail`, and `errors` for `validation_failed`). */
    problem;
    /** Seconds from `Retry-After`, on 429 and 503. */
    retryAfter;
    constructor(status, problem, retryAfter) {
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
    mfaToken;
    /** What the account has: `totp`, `recovery_code`, `passkey`. */
    methods;
    /** With `passkey` in `methods`: the WebAuthn request options for the account's passkeys. */
    passkeyOptions;
    constructor(status, problem) {
        super(status, problem, undefined);
        this.name = "MfaRequired";
        this.mfaToken = problem.mfa_token ?? "";
        this.methods = problem.methods ?? [];
        this.passkeyOptions = (problem.passkey_options ?? undefined);
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
    scopes;
    constructor(status, problem) {
        super(status, problem, undefined);
        this.name = "ConsentRequired";
        this.scopes = problem.scopes ?? [];
    }
}
export class StepUpRequired extends PortcullisError {
    constructor(status, problem) {
        super(status, problem, undefined);
        this.name = "StepUpRequired";
    }
}
/** Keeps the refresh token in memory only (it is lost with the page or process). */
export class MemoryStorage {
    #token = null;
    /** The refresh token held in memory, or `null`. */
    get() {
        return this.#token;
    }
    /** Holds (or, with `null`, forgets) the refresh token. */
    set(refreshToken) {
        this.#token = refreshToken;
    }
}
/** `navigator.credentials` with the standard JSON helpers (WebAuthn Level 3). */
export const browserWebAuthn = {
    async create(options) {
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
        return asJson(await navigator.credentials.create({ publicKey }));
    },
    async get(options) {
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
        return asJson(await navigator.credentials.get({ publicKey }));
    },
};
function asJson(credential) {
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
    #options;
    #fetch;
    #storage;
    #now;
    #accessToken = null;
    #expiresAt = 0;
    /** Milliseconds the current access token was issued for. */
    #lifetime = 0;
    #refreshing = null;
    constructor(options) {
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
    get currentAccessToken() {
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
    async register(body) {
        return this.#call("POST", "/register", body);
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
    async login(request) {
        const pair = await this.#call("POST", "/login", {
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
    async loginMfa(mfaToken, factor) {
        const pair = await this.#call("POST", "/login/mfa", {
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
    async loginMfaWithPasskey(challenge) {
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
    async requestEmailLogin(email, redirectTo) {
        await this.#call("POST", "/login/email", {
            email,
            ...(redirectTo === undefined ? {} : { redirect_to: redirectTo }),
        });
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
    async loginWithEmail(proof, remember = false) {
        const pair = await this.#call("POST", "/login/email/verify", {
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
    async providers() {
        return this.#call("GET", "/login/providers", undefined);
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
    async startProviderSignIn(provider, redirectTo, remember = false) {
        const { verifier, challenge } = await pkcePair();
        const url = new URL(`${this.#options.baseUrl}/login/providers/${encodeURIComponent(provider)}`);
        url.searchParams.set("redirect_to", redirectTo);
        url.searchParams.set("code_challenge", challenge);
        url.searchParams.set("code_challenge_method", "S256");
        if (remember)
            url.searchParams.set("remember", "true");
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
    async signInWithProvider(provider, redirectTo, remember = false) {
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
    async completeProviderSignIn(query = location.search, codeVerifier) {
        const params = typeof query === "string" ? new URLSearchParams(query) : query;
        const error = params.get("error");
        if (error !== null)
            throw new ProviderSignInError(error);
        const code = params.get("code");
        if (code === null)
            throw new ProviderSignInError("no_code");
        let verifier = codeVerifier;
        if (verifier === undefined && typeof sessionStorage !== "undefined") {
            verifier = sessionStorage.getItem(PKCE_STORAGE_KEY) ?? undefined;
            sessionStorage.removeItem(PKCE_STORAGE_KEY);
        }
        const pair = await this.#call("POST", "/login/code", {
            code,
            ...(verifier === undefined ? {} : { code_verifier: verifier }),
            token_delivery: this.#options.mode,
        });
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
    async identities() {
        return this.request("GET", "/me/identities");
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
    async linkProvider(provider, redirectTo) {
        const { url } = await this.request("POST", `/me/identities/${encodeURIComponent(provider)}`, { redirect_to: redirectTo });
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
    async unlinkIdentity(id) {
        await this.request("DELETE", `/me/identities/${encodeURIComponent(id)}`);
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
    async authorizationRequest(requestId) {
        return this.#call("GET", `/oauth2/requests/${encodeURIComponent(requestId)}`, undefined);
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
    async acceptAuthorizationRequest(requestId, consent = false) {
        const token = await this.accessToken();
        const { redirect_to } = await this.#call("POST", `/oauth2/requests/${encodeURIComponent(requestId)}/accept`, { consent }, token, {}, true);
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
    async rejectAuthorizationRequest(requestId) {
        const { redirect_to } = await this.#call("POST", `/oauth2/requests/${encodeURIComponent(requestId)}/reject`, undefined);
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
    async consents() {
        return this.request("GET", "/me/consents");
    }
    /**
     * Withdraws consent to an app: its tokens for this user stop working.
     *
     * @example
     * ```ts
     * await auth.revokeConsent(consent.client_id);
     * ```
     */
    async revokeConsent(clientId) {
        await this.request("DELETE", `/me/consents/${encodeURIComponent(clientId)}`);
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
    async addPasskey(password, name) {
        const ceremony = await this.request("POST", "/me/passkeys/registration", { password });
        const credential = await this.#webauthn().create(ceremony.options);
        return this.request("POST", "/me/passkeys", {
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
    async passkeys() {
        return this.request("GET", "/me/passkeys");
    }
    /**
     * Removes one of the account's passkeys.
     *
     * @example
     * ```ts
     * await auth.removePasskey(passkey.id);
     * ```
     */
    async removePasskey(id) {
        await this.request("DELETE", `/me/passkeys/${encodeURIComponent(id)}`);
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
    async loginWithPasskey(hint = {}, remember = false) {
        const ceremony = await this.#call("POST", "/login/passkey/challenge", hint);
        const credential = await this.#webauthn().get(ceremony.options);
        const pair = await this.#call("POST", "/login/passkey", {
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
    async changeUsername(username) {
        return this.request("PATCH", "/me", { username });
    }
    /**
     * Changes the password; the user's other sessions end. `403 wrong_password`.
     *
     * @example
     * ```ts
     * await auth.changePassword(currentPassword, "a different long passphrase");
     * ```
     */
    async changePassword(currentPassword, newPassword) {
        await this.request("PUT", "/me/password", {
            current_password: currentPassword,
            new_password: newPassword,
        });
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
    async changeEmail(newEmail, password) {
        await this.request("PUT", "/me/email", {
            new_email: newEmail,
            password,
        });
    }
    /**
     * Mails a new verification link (none if the address is verified already).
     *
     * @example
     * ```ts
     * await auth.resendVerification();
     * ```
     */
    async resendVerification() {
        await this.request("POST", "/me/email/verification");
    }
    /**
     * Deletes the account, its sessions and tokens; `409 last_admin` for the last admin.
     *
     * @example
     * ```ts
     * await auth.deleteAccount(password);   // onSessionEnd("logout") follows
     * ```
     */
    async deleteAccount(password) {
        await this.request("DELETE", "/account", {
            password,
        });
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
    async sessions() {
        return this.request("GET", "/me/sessions");
    }
    /**
     * Ends one of the user's sessions (a lost phone's, say).
     *
     * @example
     * ```ts
     * await auth.revokeSession(others[0].id);
     * ```
     */
    async revokeSession(id) {
        await this.request("DELETE", `/me/sessions/${encodeURIComponent(id)}`);
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
    async enrollTotp(password) {
        return this.request("POST", "/me/mfa/totp", {
            password,
        });
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
    async confirmTotp(code) {
        const answer = await this.request("POST", "/me/mfa/totp/confirm", {
            code,
        });
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
    async disableTotp(password, code) {
        await this.request("DELETE", "/me/mfa/totp", {
            password,
            code,
        });
    }
    /**
     * Ten new recovery codes (the old set stops working): the password and a current code.
     *
     * @example
     * ```ts
     * const recoveryCodes = await auth.regenerateRecoveryCodes(password, codeFromTheApp);
     * ```
     */
    async regenerateRecoveryCodes(password, code) {
        const answer = await this.request("POST", "/me/mfa/recovery-codes", {
            password,
            code,
        });
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
    async forgotPassword(email) {
        await this.#call("POST", "/password/forgot", {
            email,
        });
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
    async resetPassword(token, newPassword) {
        await this.#call("POST", "/password/reset", {
            token,
            new_password: newPassword,
        });
    }
    /**
     * Proves the address with the token of a verification (or email-change) link.
     *
     * @example
     * ```ts
     * await auth.verifyEmail(new URLSearchParams(location.search).get("token") ?? "");
     * ```
     */
    async verifyEmail(token) {
        await this.#call("POST", "/email/verify", {
            token,
        });
    }
    #webauthn() {
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
    refresh() {
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
    async restore() {
        if (!(await this.#mightHaveSession()))
            return null;
        try {
            return (await this.refresh()).user;
        }
        catch (error) {
            if (error instanceof PortcullisError && error.status === 401)
                return null;
            throw error;
        }
    }
    async #mightHaveSession() {
        if (this.#options.mode === "body")
            return (await this.#storage.get()) !== null;
        const hint = this.#options.sessionHintCookie ?? "portcullis_refresh_hint";
        const page = globalThis;
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
    async accessToken() {
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
    async me() {
        return this.request("GET", "/me");
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
    async logout(all = false) {
        try {
            await this.request("POST", "/logout", all ? { all: true } : undefined);
        }
        finally {
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
    async request(method, path, body) {
        const token = await this.accessToken();
        try {
            return await this.#call(method, path, body, token);
        }
        catch (error) {
            if (error instanceof PortcullisError && error.code === "token_expired") {
                await this.refresh();
                return this.#call(method, path, body, this.#accessToken ?? undefined);
            }
            throw error;
        }
    }
    async #refreshOnce() {
        const cookie = this.#options.mode === "cookie";
        const stored = cookie ? null : await this.#storage.get();
        if (!cookie && stored === null) {
            throw new Error("no refresh token stored: log in first");
        }
        try {
            const pair = await this.#call("POST", "/token/refresh", cookie ? undefined : { refresh_token: stored }, undefined, cookie ? { "X-Requested-With": "portcullis" } : {});
            await this.#accept(pair);
            return pair;
        }
        catch (error) {
            if (error instanceof PortcullisError && error.status === 401) {
                await this.#forget(error.code);
            }
            throw error;
        }
    }
    async #accept(pair) {
        this.#accessToken = pair.access_token;
        this.#lifetime = pair.expires_in * 1000;
        this.#expiresAt = this.#now() + this.#lifetime;
        if (this.#options.mode === "body" && pair.refresh_token) {
            await this.#storage.set(pair.refresh_token);
        }
        return pair.user;
    }
    async #forget(reason) {
        this.#accessToken = null;
        this.#expiresAt = 0;
        this.#lifetime = 0;
        if (this.#options.mode === "body") {
            await this.#storage.set(null);
        }
        this.#options.onSessionEnd?.(reason);
    }
    async #call(method, path, body, token, extraHeaders = {}, withCookies = false) {
        const headers = { Accept: "application/json", ...extraHeaders };
        if (body !== undefined)
            headers["Content-Type"] = "application/json";
        if (token !== undefined)
            headers["Authorization"] = `Bearer ${token}`;
        const init = { method, headers };
        if (body !== undefined)
            init.body = JSON.stringify(body);
        if (withCookies || this.#options.mode === "cookie")
            init.credentials = "include";
        const response = await this.#fetch(`${this.#options.baseUrl}${path}`, init);
        if (response.ok) {
            // 202 and 204 answers carry no body.
            const text = response.status === 204 ? "" : await response.text();
            return (text === "" ? undefined : JSON.parse(text));
        }
        throw await toError(response);
    }
}
async function toError(response) {
    let problem;
    try {
        problem = (await response.json());
    }
    catch {
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
    return new PortcullisError(response.status, problem, retryAfter === null ? undefined : Number(retryAfter));
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
export function createClient(options) {
    return new PortcullisClient(options);
}
