// A small typed client for the Portcullis API. The types come from the
// committed OpenAPI document (`npm run generate` writes src/schema.d.ts); this
// file is the part every app would otherwise write itself: logging in (with the
// second-factor step), keeping the access token fresh with one refresh at a
// time, and turning problem+json answers into typed errors.
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
    /** The current access token, if any (for calls to your own resource servers, use `accessToken()`). */
    get currentAccessToken() {
        return this.#accessToken;
    }
    /** Creates an account (`username`, `email`, `password`); log in afterwards. */
    async register(body) {
        return this.#call("POST", "/register", body);
    }
    /** Logs in; throws `MfaRequired` when the account has a second factor. */
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
     * Adds a passkey to the logged-in account: the password again, then the
     * browser asks the user to create it. Resolves to the stored passkey.
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
    /** The account's passkeys. */
    async passkeys() {
        return this.request("GET", "/me/passkeys");
    }
    /** Removes one of the account's passkeys. */
    async removePasskey(id) {
        await this.request("DELETE", `/me/passkeys/${encodeURIComponent(id)}`);
    }
    /**
     * Logs in with a passkey: the account's (`{ email }` or `{ username }`), or
     * without a hint any discoverable passkey on the device. A passkey login is
     * a two-factor login: no `MfaRequired` follows.
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
    /** Changes the username (`PATCH /me`); `409 username_taken` if another account has it. */
    async changeUsername(username) {
        return this.request("PATCH", "/me", { username });
    }
    /** Changes the password; the user's other sessions end. `403 wrong_password`. */
    async changePassword(currentPassword, newPassword) {
        await this.request("PUT", "/me/password", {
            current_password: currentPassword,
            new_password: newPassword,
        });
    }
    /**
     * Asks to move the account to `newEmail`: a link goes to the new address
     * (nothing changes until it is opened) and a notice to the old one.
     */
    async changeEmail(newEmail, password) {
        await this.request("PUT", "/me/email", {
            new_email: newEmail,
            password,
        });
    }
    /** Mails a new verification link (none if the address is verified already). */
    async resendVerification() {
        await this.request("POST", "/me/email/verification");
    }
    /** Deletes the account, its sessions and tokens; `409 last_admin` for the last admin. */
    async deleteAccount(password) {
        await this.request("DELETE", "/account", {
            password,
        });
        await this.#forget("logout");
    }
    /** The user's live sessions, newest first (`current` marks this one). */
    async sessions() {
        return this.request("GET", "/me/sessions");
    }
    /** Ends one of the user's sessions (a lost phone's, say). */
    async revokeSession(id) {
        await this.request("DELETE", `/me/sessions/${encodeURIComponent(id)}`);
    }
    // ---- Two-factor authentication.
    /**
     * Starts turning TOTP on (the password again): show `otpauth_uri` as a QR
     * code or `secret` for typing, then call `confirmTotp` with the app's first
     * code. `StepUpRequired` if the account has a passkey and this session was
     * opened without a second factor.
     */
    async enrollTotp(password) {
        return this.request("POST", "/me/mfa/totp", {
            password,
        });
    }
    /**
     * Turns TOTP on with the authenticator app's first code. Resolves to the
     * ten recovery codes, shown only now; the user's other sessions end.
     */
    async confirmTotp(code) {
        const answer = await this.request("POST", "/me/mfa/totp/confirm", {
            code,
        });
        return answer.recovery_codes;
    }
    /** Turns TOTP off: the password and a current code (TOTP or a recovery code). */
    async disableTotp(password, code) {
        await this.request("DELETE", "/me/mfa/totp", {
            password,
            code,
        });
    }
    /** Ten new recovery codes (the old set stops working): the password and a current code. */
    async regenerateRecoveryCodes(password, code) {
        const answer = await this.request("POST", "/me/mfa/recovery-codes", {
            password,
            code,
        });
        return answer.recovery_codes;
    }
    // ---- Without a session: recovery and verification links.
    /** Mails a reset link if the address has an account (the answer is the same either way). */
    async forgotPassword(email) {
        await this.#call("POST", "/password/forgot", {
            email,
        });
    }
    /** Sets a new password with the token of a reset link; every session of the account ends. */
    async resetPassword(token, newPassword) {
        await this.#call("POST", "/password/reset", {
            token,
            new_password: newPassword,
        });
    }
    /** Proves the address with the token of a verification (or email-change) link. */
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
     */
    refresh() {
        this.#refreshing ??= this.#refreshOnce().finally(() => {
            this.#refreshing = null;
        });
        return this.#refreshing;
    }
    /** An access token valid for at least the leeway, refreshing first if needed. */
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
    /** The logged-in user (`GET /me`). */
    async me() {
        return this.request("GET", "/me");
    }
    /** Ends this session (or, with `all`, every session of the user). */
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
    async #call(method, path, body, token, extraHeaders = {}) {
        const headers = { Accept: "application/json", ...extraHeaders };
        if (body !== undefined)
            headers["Content-Type"] = "application/json";
        if (token !== undefined)
            headers["Authorization"] = `Bearer ${token}`;
        const init = { method, headers };
        if (body !== undefined)
            init.body = JSON.stringify(body);
        if (this.#options.mode === "cookie")
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
    if (problem.code === "step_up_required") {
        return new StepUpRequired(response.status, problem);
    }
    const retryAfter = response.headers.get("Retry-After");
    return new PortcullisError(response.status, problem, retryAfter === null ? undefined : Number(retryAfter));
}
/** A client for one Portcullis service; see {@link ClientOptions}. */
export function createClient(options) {
    return new PortcullisClient(options);
}
