// `weir-operator build`: an operator project (a directory with a JavaScript or
// TypeScript module whose default export is an operator) to a component.
//
// 1. esbuild bundles the project's entry, the SDK and every relative or npm
//    import into one ES module, leaving the contract's `weir:` imports to the
//    engine. The SDK is always this package's own copy, so that the operator
//    and the glue agree on its classes (`instanceof InvalidInput`).
// 2. componentize-qjs embeds the bundle in the QuickJS engine, runs its top
//    level once and snapshots the result (Wizer), and wraps it as a component
//    of the `operator` world.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SETUP_HINT =
  'install it with scripts/setup-js.sh from the Weir repository (or `npm ci` at its root), ' +
  'or `npm install weir-operator` in your project';

/** A build failure whose message is meant for the user as it is. */
export class BuildError extends Error {}
Object.defineProperty(BuildError.prototype, 'name', { value: 'BuildError', writable: true, configurable: true });

/** The WIT package of the contract: the package's copy, or the repository's. */
export function witDir() {
  for (const dir of [path.join(PACKAGE_DIR, 'wit'), path.resolve(PACKAGE_DIR, '..', 'wit')]) {
    if (existsSync(path.join(dir, 'operator.wit'))) return dir;
  }
  throw new BuildError(`the WIT contract (operator.wit) is missing next to ${PACKAGE_DIR}; reinstall weir-operator`);
}

const BUNDLE_NAME = 'weir-operator-bundle.js';
const ENTRY_CANDIDATES = ['index.js', 'index.mjs', 'index.ts', 'operator.js', 'operator.mjs', 'operator.ts'];

function readPackageJson(dir) {
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BuildError(`${file}: not valid JSON: ${e.message}`);
  }
}

/**
 * The project's entry module: `main` of its package.json, else the first of
 * index.js, index.mjs, index.ts, operator.js, operator.mjs, operator.ts.
 */
export function findEntry(projectDir) {
  const pkg = readPackageJson(projectDir);
  if (pkg?.main) {
    const main = path.resolve(projectDir, pkg.main);
    if (!existsSync(main)) throw new BuildError(`${path.join(projectDir, 'package.json')}: main '${pkg.main}' does not exist`);
    return main;
  }
  for (const name of ENTRY_CANDIDATES) {
    const candidate = path.join(projectDir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new BuildError(
    `${projectDir}: no operator module found: set "main" in package.json, or add one of ${ENTRY_CANDIDATES.join(', ')}`,
  );
}

/** The default output file: `<project>/<package name or directory name>.wasm`. */
export function defaultOutput(projectDir) {
  const name = readPackageJson(projectDir)?.name?.replace(/^@[^/]+\//, '') || path.basename(projectDir);
  return path.join(projectDir, `${name}.wasm`);
}

async function importTool(name) {
  try {
    return await import(name);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') {
      throw new BuildError(`the JavaScript operator toolchain is not installed (${name} is missing): ${SETUP_HINT}`);
    }
    throw new BuildError(`cannot load ${name}: ${e?.message ?? e}; ${SETUP_HINT}`);
  }
}

/** Resolves `weir-operator` (and its subpaths) to this package's own files. */
function sdkPlugin() {
  const subpaths = { '': 'src/index.js', '/testing': 'src/testing.js' };
  return {
    name: 'weir-operator-sdk',
    setup(build) {
      build.onResolve({ filter: /^weir-operator(\/.*)?$/ }, (args) => {
        const sub = args.path.slice('weir-operator'.length);
        const file = subpaths[sub];
        if (file === undefined) {
          return { errors: [{ text: `'${args.path}' is not a module of weir-operator inside a component` }] };
        }
        return { path: path.join(PACKAGE_DIR, file) };
      });
    },
  };
}

/**
 * Bundles the project into one ES module whose `handler` export implements
 * the contract. Returns the bundle's text.
 */
export async function bundle(entry) {
  const esbuild = await importTool('esbuild');
  const component = path.join(PACKAGE_DIR, 'src', 'component.js');
  const contents = [
    `import { exportOperator } from ${JSON.stringify(component)};`,
    `import operator from ${JSON.stringify(entry)};`,
    'export const handler = exportOperator(operator);',
    '',
  ].join('\n');
  let result;
  try {
    result = await esbuild.build({
      stdin: { contents, resolveDir: path.dirname(entry), sourcefile: 'weir-operator-entry.js', loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      target: 'es2023',
      // npm packages: the ES module build first, then CommonJS.
      mainFields: ['module', 'main'],
      external: ['weir:*'],
      plugins: [sdkPlugin()],
      logLevel: 'silent',
      charset: 'utf8',
      legalComments: 'none',
    });
  } catch (e) {
    const messages = (e.errors ?? []).map((m) => {
      const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '';
      return `${at}${m.text}`;
    });
    throw new BuildError(`cannot bundle ${entry}:\n  ${messages.length > 0 ? messages.join('\n  ') : e.message}`);
  }
  return result.outputFiles[0].text;
}

/**
 * Builds the operator project in `projectDir` into a component at `output`
 * (default: see `defaultOutput`). Returns `{output, bytes, seconds}`.
 */
export async function build(projectDir, { output } = {}) {
  const started = Date.now();
  const dir = path.resolve(projectDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BuildError(`${projectDir}: not a directory`);
  const out = path.resolve(output ?? defaultOutput(dir));
  const entry = findEntry(dir);
  const source = await bundle(entry);
  const { componentize } = await importTool('componentize-qjs');
  // The bundle gets a directory of its own: Wizer exposes that directory
  // (and nothing else) while it runs the module's top level, and stack
  // traces name the bundle, whose line numbers they give, rather than the
  // project's entry file.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'weir-operator-'));
  let component;
  try {
    const bundled = path.join(scratch, BUNDLE_NAME);
    writeFileSync(bundled, source);
    ({ component } = await componentize({
      witPath: witDir(),
      world: 'operator',
      jsSource: source,
      jsPath: bundled,
      moduleRoot: scratch,
      // The runtime calls exports synchronously, without the component
      // model's async ABI.
      sync: true,
    }));
  } catch (e) {
    // Wizer runs the module's top level at build time: an exception there
    // (for example an operator without `open`) ends up here.
    throw new BuildError(`cannot build a component from ${entry}: ${e?.message ?? e}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, component);
  return { output: out, bytes: component.length, seconds: (Date.now() - started) / 1000 };
}
