/** The vitest projects of the monorepo; the root vitest.config.ts loads this list (vitest 4 ignores this file on its own). */
export default ["packages/*", "examples/*"];
