#!/usr/bin/env node
// The conn-postgres command: runs the compiled CLI (pnpm build first when working from a clone).
import "../dist/bin.js";
