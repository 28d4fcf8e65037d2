// Installs the client the way an app would, from the tarball `npm pack` makes
// (and from the folder), into a scratch app; type-checks an app file against
// the installed declarations with `tsc --strict`; then runs it against the
// real service (PORTCULLIS_BIN): register, log in, sessions, TOTP enrolment,
// log out.
//
//   PORTCULLIS_BIN=target/release/portcullis npm run check:package
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const client = join(dirname(fileURLToPath(import.meta.url)), "..");
const binary = process.env.PORTCULLIS_BIN;
assert.ok(binary, "set PORTCULLIS_BIN to a built portcullis binary");
const typescript = JSON.parse(readFileSync(join(client, "package.json"), "utf8")).devDependencies
  .typescript;
const scratch = mkdtempSync(join(tmpdir(), "portcullis-package-"));
const npm = (args, cwd) =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });

const app = `
import { createClient, MfaRequired, PortcullisError, type User } from "@portcullis/client";

// (No @types/node in a browser app: the URL comes through globalThis.)
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
const baseUrl = env?.["API_URL"] ?? "";
const auth = createClient({ baseUrl, mode: "body" });
const password = "a perfectly fine passphrase";
const user: User = await auth.register({ username: "trial", email: "trial@example.com", password });
await auth.login({ email: user.email, password });
const me = await auth.me();
const sessions = await auth.sessions();
const enrollment = await auth.enrollTotp(password);
try {
  await auth.confirmTotp("000000");
} catch (error) {
  if (!(error instanceof PortcullisError) || error.code !== "invalid_mfa_code") throw error;
}
await auth.logout();
const failed = await auth.login({ email: user.email, password: "not the password" }).catch((e: unknown) => e);
if (failed instanceof MfaRequired) throw new Error("TOTP was never confirmed");
console.log(JSON.stringify({
  username: me.username,
  sessions: sessions.length,
  otpauth: enrollment.otpauth_uri.startsWith("otpauth://totp/"),
  refused: failed instanceof PortcullisError ? failed.code : String(failed),
}));
`;

let service;
try {
  const tarball = npm(["pack", "--pack-destination", scratch], client).trim().split("\n").pop();
  const listing = execFileSync("tar", ["tzf", join(scratch, tarball)], { encoding: "utf8" });
  for (const file of ["package/dist/index.js", "package/dist/index.d.ts", "package/dist/schema.d.ts", "package/README.md"]) {
    assert.ok(listing.includes(file), `${file} is in the tarball`);
  }

  for (const [name, source] of [["from-tarball", join(scratch, tarball)], ["from-folder", client]]) {
    const dir = join(scratch, name);
    execFileSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
    writeFileSync(join(dir, "app.ts"), app);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2022", "DOM"],
          strict: true,
          skipLibCheck: false,
          outDir: "out",
        },
        files: ["app.ts"],
      }),
    );
    npm(["install", source, `typescript@${typescript}`], dir);
    execFileSync(join(dir, "node_modules/.bin/tsc"), ["-p", "."], { cwd: dir, stdio: "inherit" });
    console.log(`${name}: installed and type-checked`);
  }

  service = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(scratch, "package.db")}`,
      BIND_ADDR: "127.0.0.1:0",
      ARGON2_MEMORY_KIB: "4096",
      ARGON2_ITERATIONS: "1",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const apiUrl = await new Promise((resolve, reject) => {
    let seen = "";
    service.stdout.on("data", (chunk) => {
      seen += chunk;
      const ready = /ready at (http:\/\/\S+)/.exec(seen);
      if (ready) resolve(ready[1]);
    });
    service.on("exit", (code) => reject(new Error(`portcullis exited with ${code}`)));
  });
  const output = execFileSync("node", [join(scratch, "from-tarball/out/app.js")], {
    env: { ...process.env, API_URL: apiUrl },
    encoding: "utf8",
  });
  assert.deepEqual(JSON.parse(output), {
    username: "trial",
    sessions: 1,
    otpauth: true,
    refused: "invalid_credentials",
  });
  console.log("the installed client ran a session against the service");
} finally {
  service?.kill();
  rmSync(scratch, { recursive: true, force: true });
}
