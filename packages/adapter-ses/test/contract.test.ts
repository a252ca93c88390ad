import { notifierContract } from "@conn/contract-tests";
import { SesNotifier } from "../src/index.js";
import { emulatorOptions, type StoredEmail, sesEndpoint } from "./helpers.js";

// The shared notifier suite, against the real AWS SDK and the SES emulator: the back door reads the emulator's store.
notifierContract("SesNotifier (aws-ses-v2-local)", {
  async setup() {
    const notifier = new SesNotifier({ from: "Acme Health <no-reply@acme.example>", ...emulatorOptions() });
    return {
      notifier,
      async delivered() {
        const res = await fetch(`${sesEndpoint()}/store`);
        if (!res.ok) throw new Error(`GET /store answered ${res.status}`);
        const { emails } = (await res.json()) as { emails: StoredEmail[] };
        return emails.map((e) => ({
          to: e.destination.to,
          text: `${e.subject}\n${e.body.text ?? ""}`,
          html: e.body.html,
        }));
      },
    };
  },
});
