// Bundles every top-level entry of src/ (*.js, *.css) into ../static/dist/ with esbuild.
// Fonts and icons referenced by the CSS are copied beside the bundles (file loader, hashed names).
// Usage: node build.mjs            (minified, run by scripts/setup)
//        node build.mjs --dev      (not minified, with source maps)
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "..", "static", "dist");
// Built apart, then swapped in: a server running meanwhile never serves a half-built folder.
const out = `${dist}.tmp-${process.pid}`;
const dev = process.argv.includes("--dev");

const entryPoints = readdirSync(src)
  .filter((name) => /\.(js|css)$/.test(name))
  .map((name) => join(src, name));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints,
  outdir: out,
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  sourcemap: dev,
  legalComments: "linked",
  logLevel: "warning",
  assetNames: "assets/[name]-[hash]",
  loader: {
    ".woff": "file",
    ".woff2": "file",
    ".svg": "file",
    ".png": "file",
    ".ttf": "file",
    ".eot": "file",
    ".gif": "file",
    ".jpg": "file",
  },
});

// The favicon the pages link to (a missing /favicon.ico would be a console error).
const favicon = join(here, "node_modules", "@gouvfr", "dsfr", "dist", "favicon");
for (const name of ["favicon.svg", "favicon.ico", "apple-touch-icon.png"]) {
  copyFileSync(join(favicon, name), join(out, name));
}
const old = `${dist}.old-${process.pid}`;
if (existsSync(dist)) renameSync(dist, old);
renameSync(out, dist);
rmSync(old, { recursive: true, force: true });
console.log(`clausier: ${entryPoints.length} entrées construites dans ${dist}`);
