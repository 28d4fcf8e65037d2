// A demo app that signs its users in through Portcullis over OpenID Connect,
// with oidc-client-ts (a public client: authorization code + PKCE, in the
// browser). Serves the page, its callback, and oidc-client-ts's browser build
// (from tests/browser/node_modules: `cd tests/browser && npm ci` first).
//
//   ISSUER=http://localhost:8080 CLIENT_ID=… PORT=3001 node examples/oidc-spa/serve.mjs
//
// Register the client first (a public client whose redirect URI is this
// server's /callback.html), and list this origin in CORS_ALLOWED_ORIGINS:
//   portcullis client create --name "Demo SPA" --type public \
//     --redirect-uri http://127.0.0.1:3001/callback.html
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const publicDir = join(here, "public");
const library = join(here, "../../tests/browser/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.js");
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

/** Starts the server; resolves to its origin. `settings()` gives
 * `{ issuer, clientId }` (a function: a test registers the client later). */
export function serve({ settings, port = 0, host = "127.0.0.1" }) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/config.js") {
      const { issuer, clientId } = settings();
      res.writeHead(200, { "Content-Type": types[".js"] });
      res.end(`export const ISSUER = ${JSON.stringify(issuer)};\nexport const CLIENT_ID = ${JSON.stringify(clientId)};\n`);
      return;
    }
    const file = path === "/oidc-client-ts.js" ? library : normalize(join(publicDir, path === "/" ? "index.html" : path));
    if (file !== library && !file.startsWith(publicDir)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      resolve({ origin: `http://${host}:${server.address().port}`, close: () => server.close() });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const settings = () => ({ issuer: process.env.ISSUER ?? "http://localhost:8080", clientId: process.env.CLIENT_ID ?? "" });
  const { origin } = await serve({ settings, port: Number(process.env.PORT ?? 3001) });
  console.log(`Demo "Sign in with Portcullis" app at ${origin}; register ${origin}/callback.html and allow the origin in CORS_ALLOWED_ORIGINS`);
}
