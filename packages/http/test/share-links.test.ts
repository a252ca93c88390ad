import { describe, expect, it } from "vitest";
import { connectionSchema, redactedPath, shareLinkListSchema, shareLinkSchema } from "../src/index.ts";
import { A, B, C, contextPath, expectFault, ORG, patientFile, UNKNOWN_TOKEN, useServer } from "./helpers.ts";

const { call } = useServer();

const linksPath = contextPath(patientFile).replace(/connections$/, "share-links");
const linkPath = (idOrToken: string) => `/${ORG}/v2/share-links/${idOrToken}`;

describe("share links over HTTP", () => {
  it("POST creates a link (token in this answer only), GET lists and reads it without the token, POST redeems it", async () => {
    const made = await call("POST", linksPath, {
      as: A,
      body: { access: 4, uses: 2, emailDomain: "acme.example" },
    });
    expect(made.status).toBe(200);
    const link = shareLinkSchema.parse(made.body);
    expect(link).toMatchObject({ access: 4, usesAllowed: 2, usesLeft: 2, status: "active" });
    expect(link.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const token = link.token as string;

    const listed = await call("GET", `${linksPath}?limit=10`, { as: A });
    expect(listed.status).toBe(200);
    expect(shareLinkListSchema.parse(listed.body).data.map((l) => l._id)).toEqual([link._id]);
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const read = await call("GET", linkPath(link._id), { as: A });
    expect(shareLinkSchema.parse(read.body).token).toBeUndefined();

    const redeemed = await call("POST", linkPath(token), { as: B });
    expect(redeemed.status).toBe(200);
    expect(connectionSchema.parse(redeemed.body)).toMatchObject({
      state: 1,
      access: 4,
      target: { account: { _id: B } },
    });
    expect((await call("GET", linkPath(link._id), { as: A })).body.usesLeft).toBe(1);

    const revoked = await call("DELETE", linkPath(link._id), { as: A });
    expect(shareLinkSchema.parse(revoked.body).status).toBe("revoked");
    expectFault(
      await call("POST", linkPath(token), { as: C }),
      400,
      "cortex.invalidArgument.shareLinkRevoked",
    );
  });

  it("bad input is a 400 naming the field, and writes nothing", async () => {
    const bad = [
      [{ uses: 0 }, "uses"],
      [{ uses: 1001 }, "uses"],
      [{ emailDomain: "not a domain" }, "emailDomain"],
      [{ expiresInDays: 365 }, "expiresInDays"],
      [{ colour: "red" }, "link"],
    ] as const;
    for (const [body, path] of bad) {
      const fault = expectFault(
        await call("POST", linksPath, { as: A, body }),
        400,
        "cortex.invalidArgument.unspecified",
      );
      expect(fault.path, JSON.stringify(body)).toBe(path);
    }
    expectFault(
      await call("POST", linksPath, { as: A, body: [1] }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expectFault(
      await call("GET", `${linksPath}?limit=0`, { as: A }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expect((await call("GET", linksPath, { as: A })).body.data).toEqual([]);
  });

  it("an unknown token is connectionToken, an id is not a token, anonymous redeeming is notLoggedIn", async () => {
    expectFault(
      await call("POST", linkPath(UNKNOWN_TOKEN), { as: B }),
      400,
      "cortex.invalidArgument.connectionToken",
    );
    expectFault(
      await call("POST", linkPath("0".repeat(24)), { as: B }),
      400,
      "cortex.invalidArgument.unspecified",
    );
    expectFault(await call("POST", linkPath(UNKNOWN_TOKEN)), 403, "cortex.accessDenied.notLoggedIn");
    expectFault(await call("GET", linkPath("0".repeat(24)), { as: A }), 404, "cortex.notFound.unspecified");
    expectFault(await call("GET", linksPath, { as: B }), 403, "cortex.accessDenied.shareAccess");
  });

  it("a share link's token in a URL is redacted in what the error reporter gets", () => {
    expect(redactedPath(`http://h/${ORG}/v2/share-links/${UNKNOWN_TOKEN}?x=1`)).toBe(
      `/${ORG}/v2/share-links/<token>`,
    );
    expect(redactedPath(`http://h/${ORG}/v2/share-links/${"a".repeat(24)}`)).toBe(
      `/${ORG}/v2/share-links/${"a".repeat(24)}`,
    );
  });

  it("the OpenAPI document describes every share-link route and both schemas", async () => {
    const doc = (await call("GET", `/${ORG}/v2/openapi.json`)).body;
    expect(doc.paths["/{org}/v2/{objects}/{id}/share-links"].post.operationId).toBe("createShareLink");
    expect(doc.paths["/{org}/v2/{objects}/{id}/share-links"].get.operationId).toBe("listShareLinks");
    expect(doc.paths["/{org}/v2/share-links/{linkId}"].get.operationId).toBe("readShareLink");
    expect(doc.paths["/{org}/v2/share-links/{linkId}"].delete.operationId).toBe("revokeShareLink");
    expect(doc.paths["/{org}/v2/share-links/{linkToken}"].post.operationId).toBe("redeemShareLink");
    expect(doc.components.schemas.ShareLink.properties.status.enum).toEqual([
      "active",
      "revoked",
      "expired",
      "usedUp",
    ]);
    expect(doc.components.schemas.ShareLinkBody.properties.uses).toMatchObject({ minimum: 1, maximum: 1000 });
  });
});

describe("time-limited grants over HTTP", () => {
  it("a target's accessDays gives an accessExpiresAt every view shows, and the OpenAPI document describes both", async () => {
    const created = await call("POST", contextPath(patientFile), {
      as: A,
      body: { targets: [{ _id: B, access: 4, accessDays: 3 }] },
    });
    expect(created.status).toBe(200);
    const view = connectionSchema.parse(created.body.data[0]);
    expect(view.accessExpiresAt).toBeDefined();
    const listed = await call("GET", `/${ORG}/v2/connections`, { as: B });
    expect(connectionSchema.parse(listed.body.data[0]).accessExpiresAt).toBe(view.accessExpiresAt);
    const bad = await call("POST", contextPath(patientFile), {
      as: A,
      body: { targets: [{ _id: C, accessExpiresAt: "2000-01-01T00:00:00Z" }] },
    });
    expect(expectFault(bad, 400, "cortex.invalidArgument.connectionTarget").path).toBe(
      "targets[0].accessExpiresAt",
    );
    const doc = (await call("GET", `/${ORG}/v2/openapi.json`)).body;
    expect(doc.components.schemas.Connection.properties.accessExpiresAt).toMatchObject({ type: "string" });
    expect(doc.components.schemas.ConnectionTarget.properties.accessDays).toMatchObject({ minimum: 1 });
    expect(doc.components.schemas.ConnectionTarget.properties.accessExpiresAt).toBeDefined();
  });
});
