import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@conn/source", "node", "development|production"] } },
  test: {
    name: "example-web",
    include: ["test/**/*.test.ts"],
    // The SES emulator the adapter-ses suites use, started once on a free loopback port.
    globalSetup: ["../../packages/adapter-ses/test/global-setup.ts"],
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      // The emulator accepts any credentials; the SDK needs some.
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    },
    // Generous for a loaded machine: a browser story takes seconds, but never fails for being slow.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
