// TEST-FIXTURE / DEMO SETUP ONLY.
//
// This config exists because Prisma's native engines (the `schema-engine` binary and the
// query-engine library) cannot be downloaded on the machine that runs this project's tests:
// Prisma's binary host is unreachable, only the npm registry is. It makes the real Prisma CLI
// (6.19.3) run `migrate deploy|status|resolve` with the WebAssembly schema engine that ships
// inside the `prisma` npm package, through the `@prisma/adapter-pg` driver adapter, plus
// workarounds for three upstream problems (see /work/shared/notes/prisma-offline.md).
//
// Real users do NOT need any of this: they run plain `npx prisma ...` with Prisma's default
// native engines and no prisma.config.ts.
//
// Shims in this file (4 is ours, found while measuring; see below):
//   1. adapter-pg cannot map the catalog types `name` (OID 19) and `"char"` (OID 18) that the
//      schema engine reads ("Column type 'name' could not be deserialized from the database",
//      prisma/orm#27403): result columns of those types are reported as `text` (OID 25).
//   3. adapter-pg's executeScript() splits a migration on every `;` (breaks `DO $$ ... $$`
//      blocks and leaves half-applied files); here the whole script is sent as ONE simple
//      query, like the native engine does, so PostgreSQL runs it as one implicit transaction.
// (Shim 2, the connectivity pre-check of `migrate resolve`, is scripts/schema-engine-shim,
//  selected with PRISMA_SCHEMA_ENGINE_BINARY.)
import path from "node:path";

// Shim 4 (found while measuring): the Wasm schema engine arms a 10 s timer (its
// migrate-lock timeout) and never clears it, so every successful command lingers
// 10 s before Node exits. Long timers are unref'd: they still fire while the CLI is
// busy, they just no longer keep a finished process alive.
const originalSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = function (handler: any, ms?: number, ...args: any[]) {
  const timer: any = (originalSetTimeout as any)(handler, ms, ...args);
  if (typeof ms === "number" && ms >= 5000 && timer && typeof timer.unref === "function") {
    timer.unref();
  }
  return timer;
} as typeof setTimeout;
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// Query parameters that only Prisma's own engines understand. node-postgres ignores unknown
// parameters today, but we strip them anyway so they can never reach the server as startup
// options, and we honour the two that matter: `schema` and `connection_limit`.
const PRISMA_ONLY_PARAMS = [
  "schema",
  "connection_limit",
  "pool_timeout",
  "socket_timeout",
  "pgbouncer",
  "statement_cache_size",
  "sslaccept",
  "sslidentity",
  "sslpassword",
];

function pgConfigFromPrismaUrl(raw: string | undefined) {
  if (!raw) {
    throw new Error("DATABASE_URL is not set");
  }
  const url = new URL(raw);
  // Prisma's default schema is `public`.
  const schema = url.searchParams.get("schema") || "public";
  const limit = Number.parseInt(url.searchParams.get("connection_limit") ?? "", 10);
  for (const key of PRISMA_ONLY_PARAMS) {
    url.searchParams.delete(key);
  }
  // Same effect as the native engine: unqualified names resolve in `schema`.
  const quoted = '"' + schema.replace(/"/g, '""') + '"';
  const searchPath = `-c search_path=${quoted.replace(/([\\ ])/g, "\\$1")}`;
  const userOptions = url.searchParams.get("options");
  url.searchParams.delete("options");
  return {
    schema,
    config: {
      connectionString: url.toString(),
      options: userOptions ? `${userOptions} ${searchPath}` : searchPath,
      // The CLI does not end the adapter's pool; without this, every command would keep the
      // process alive for pg's idle timeout (10 s) after it has finished.
      allowExitOnIdle: true,
      ...(Number.isFinite(limit) && limit > 0 ? { max: limit } : {}),
    },
  };
}

const PATCHED = Symbol.for("schooliat.fixture.adapterPgPatched");

function patchAdapterPrototypes(adapter: object) {
  // Walk the prototype chain of the adapter returned by factory.connect().
  for (let proto = Object.getPrototypeOf(adapter); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    if ((proto as any)[PATCHED]) {
      continue;
    }
    const own = (name: string) => Object.prototype.hasOwnProperty.call(proto, name);

    // Shim 1: OID 19 (`name`) and 18 (`"char"`) -> 25 (`text`). performIO lives on the base
    // class shared with transactions, so patching it there covers both.
    if (own("performIO")) {
      const original = proto.performIO;
      proto.performIO = async function (this: unknown, ...args: unknown[]) {
        const result = await original.apply(this, args);
        for (const field of result?.fields ?? []) {
          if (field.dataTypeID === 19 || field.dataTypeID === 18) {
            field.dataTypeID = 25;
          }
        }
        return result;
      };
    }

    // Shim 3: whole migration script as a single simple-protocol query (no parameters).
    if (own("executeScript")) {
      proto.executeScript = async function (this: any, script: string) {
        try {
          await this.client.query(script);
        } catch (error) {
          this.onError(error);
        }
      };
    }

    Object.defineProperty(proto, PATCHED, { value: true });
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join("src", "prisma", "db", "schema.prisma"),
  migrations: {
    path: path.join("src", "prisma", "db", "migrations"),
  },
  async adapter() {
    const { schema, config } = pgConfigFromPrismaUrl(process.env.DATABASE_URL);
    const factory = new PrismaPg(config, { schema });
    const connect = factory.connect.bind(factory);
    factory.connect = async () => {
      const adapter = await connect();
      patchAdapterPrototypes(adapter);
      return adapter;
    };
    return factory;
  },
});
