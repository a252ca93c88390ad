import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  test: {
    name: "container",
    include: ["test/**/*.test.ts"],
    setupFiles: ["reflect-metadata"],
    // The SES emulator the adapter-ses suites use, started once on a free loopback port.
    globalSetup: ["../adapter-ses/test/global-setup.ts"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
