// Bundles src/index.ts into dist/widget.js (one minified IIFE) and enforces the size budget:
// the widget loads on every page of a customer's website, so it must stay small.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_GZIP_BYTES = 60_000; // 60 kB gzipped (issue 4)
const OUT = "dist/widget.js";

const result = await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  // Browsers with RTCPeerConnection.restartIce, attachShadow and :focus-visible.
  target: ["chrome90", "edge90", "firefox90", "safari15"],
  charset: "utf8",
  legalComments: "none",
  banner: {
    js: "/*! Loket widget | AGPL-3.0-or-later | bundles socket.io-client, engine.io-client, socket.io-parser, @socket.io/component-emitter (MIT) */",
  },
  write: false,
  logLevel: "warning",
});

const [output] = result.outputFiles;
const gzipped = gzipSync(output.contents, { level: 9 });
// An over-budget build leaves no widget.js behind to be served by mistake.
rmSync("dist", { recursive: true, force: true });

const kB = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
console.log(
  `${OUT}: ${kB(output.contents.length)} minified, ${kB(gzipped.length)} gzipped ` +
    `(${gzipped.length} bytes; budget ${kB(BUDGET_GZIP_BYTES)})`,
);
if (gzipped.length > BUDGET_GZIP_BYTES) {
  console.error(`widget.js is over its budget of ${kB(BUDGET_GZIP_BYTES)} gzipped`);
  process.exit(1);
}
mkdirSync("dist");
writeFileSync(OUT, output.contents);
// Served as is to browsers that accept gzip (aiohttp's FileResponse picks up the sibling).
writeFileSync(`${OUT}.gz`, gzipped);
