// Bundles the browser code into dist/:
//   widget.js (+ .gz)        src/widget/index.ts, the embeddable widget, held to a size budget: it loads
//                            on every page of a customer's website, so it must stay small;
//   apps/<page>.js           the adviser console, the admin console and the privacy-request page,
//                            served by Loket itself (no budget: staff load them once a day);
//   pages/<page>.html        their HTML shells, copied from pages/;
//   loket.d.ts               the TypeScript types of window.Loket, emitted by tsc from
//                            src/widget/public.ts (the one source of the public API's shape).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_GZIP_BYTES = 60_000; // 60 kB gzipped (issue 4)
const OUT = "dist/widget.js";
const APPS = ["console", "admin", "privacy"];

const common = {
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  // Browsers with RTCPeerConnection.restartIce, attachShadow and :focus-visible.
  target: ["chrome90", "edge90", "firefox90", "safari15"],
  charset: "utf8",
  legalComments: "none",
  write: false,
  logLevel: "warning",
};

const widget = await build({
  ...common,
  entryPoints: ["src/widget/index.ts"],
  banner: {
    js: "/*! Loket widget | AGPL-3.0-or-later | bundles socket.io-client, engine.io-client, socket.io-parser, @socket.io/component-emitter (MIT) */",
  },
});
const apps = await Promise.all(
  APPS.map((name) => build({ ...common, entryPoints: [`src/${name}/main.ts`] })),
);

const [output] = widget.outputFiles;
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
mkdirSync("dist/apps", { recursive: true });
mkdirSync("dist/pages", { recursive: true });
writeFileSync(OUT, output.contents);
// Served as is to browsers that accept gzip (aiohttp's FileResponse picks up the sibling).
writeFileSync(`${OUT}.gz`, gzipped);
APPS.forEach((name, index) => {
  const [file] = apps[index].outputFiles;
  writeFileSync(`dist/apps/${name}.js`, file.contents);
  writeFileSync(`dist/apps/${name}.js.gz`, gzipSync(file.contents, { level: 9 }));
  console.log(`dist/apps/${name}.js: ${kB(file.contents.length)} minified`);
});
for (const page of readdirSync("pages")) {
  copyFileSync(`pages/${page}`, `dist/pages/${page}`);
}

// dist/loket.d.ts: declarations only, from the same file index.ts builds window.Loket with.
const declarations = mkdtempSync(join(tmpdir(), "loket-dts-"));
const tsc = spawnSync(
  "node_modules/.bin/tsc",
  ["src/widget/public.ts", "--ignoreConfig", "--declaration", "--emitDeclarationOnly", "--strict",
   "--target", "ES2020", "--lib", "ES2020,DOM", "--module", "ESNext", "--moduleResolution", "bundler",
   "--skipLibCheck", "--outDir", declarations],
  { stdio: "inherit" },
);
if (tsc.status !== 0) {
  console.error("tsc could not emit the declarations of src/widget/public.ts");
  process.exit(1);
}
const types = readFileSync(join(declarations, "public.d.ts"), "utf8");
rmSync(declarations, { recursive: true, force: true });
writeFileSync("dist/loket.d.ts", `// Loket widget ${process.env.npm_package_version ?? ""}: types of window.Loket (generated; see README "The widget's JavaScript API").\n${types}`);
console.log("dist/loket.d.ts: the types of window.Loket");
