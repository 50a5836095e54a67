/** A build failure whose message is meant for the user. */
export declare class BuildError extends Error {}

/** The directory of the WIT contract the components are built against. */
export declare function witDir(): string;

/** The project's entry module: package.json `main`, else index.js (.mjs, .ts) or operator.js (.mjs, .ts). */
export declare function findEntry(projectDir: string): string;

/** `<project>/<package or directory name>.wasm`. */
export declare function defaultOutput(projectDir: string): string;

/** Bundles the project's entry with the SDK into one ES module exporting the contract's `handler`. */
export declare function bundle(entry: string): Promise<string>;

/** Builds the project into a component. */
export declare function build(projectDir: string, options?: { output?: string }): Promise<{ output: string; bytes: number; seconds: number }>;
