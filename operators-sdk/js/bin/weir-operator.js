#!/usr/bin/env node
// weir-operator build [PROJECT_DIR] [-o OUT.wasm]

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { BuildError, build } from '../src/build.js';

const USAGE = `Usage: weir-operator build [PROJECT_DIR] [-o OUT.wasm]

Builds the JavaScript (or TypeScript) operator in PROJECT_DIR (default: the
current directory) into a WebAssembly component for Weir. The entry module is
"main" of PROJECT_DIR/package.json, else index.js (.mjs, .ts) or operator.js
(.mjs, .ts); its default export is the operator (see defineOperator).

Options:
  -o, --output FILE   where to write the component
                      (default: PROJECT_DIR/<package or directory name>.wasm)
  -q, --quiet         print nothing on success
  -h, --help          show this help
  -V, --version       show the version`;

function version() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return pkg.version;
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    console.error(`weir-operator: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(version());
    return 0;
  }
  const [command, projectDir = '.', ...rest] = positionals;
  if (command !== 'build' || rest.length > 0) {
    console.error(command === undefined ? USAGE : `weir-operator: unexpected arguments: ${positionals.join(' ')}\n\n${USAGE}`);
    return 2;
  }
  try {
    const result = await build(projectDir, { output: values.output });
    if (!values.quiet) {
      const relative = path.relative(process.cwd(), result.output);
      const shown = relative && !relative.startsWith('..') ? relative : result.output;
      console.error(`built ${shown} (${(result.bytes / 1048576).toFixed(1)} MiB) in ${result.seconds.toFixed(1)} s`);
    }
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`weir-operator: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
