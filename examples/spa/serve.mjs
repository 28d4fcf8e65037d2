// Serves the demo SPA on its own origin: the page, the built TypeScript client
// (clients/typescript/dist) under /client/, and /config.js naming the API.
//
//   API_URL=http://localhost:8080 PORT=3000 node examples/spa/serve.mjs
//
// The API must list this origin in CORS_ALLOWED_ORIGINS.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const roots = {
  "/client/": join(here, "../../clients/typescript/dist"),
  "/": join(here, "public"),
};
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Starts the server; resolves to its origin. `api` is a URL, or a function
 * giving it (for a test that starts the API after the page's server). */
export function serve({ api, port = 0, host = "localhost" }) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/config.js") {
      res.writeHead(200, { "Content-Type": types[".js"] });
      const url = typeof api === "function" ? api() : api;
      res.end(`export const API = ${JSON.stringify(url)};\n`);
      return;
    }
    const [prefix, root] = Object.entries(roots).find(([prefix]) => path.startsWith(prefix));
    let file = normalize(join(root, path.slice(prefix.length)));
    if (!file.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    if (path.endsWith("/") || !extname(file)) file = join(root, "index.html");
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
  const api = process.env.API_URL ?? "http://localhost:8080";
  const { origin } = await serve({ api, port: Number(process.env.PORT ?? 3000) });
  console.log(`Demo SPA at ${origin} (API ${api}); the API needs CORS_ALLOWED_ORIGINS=${origin}`);
}
