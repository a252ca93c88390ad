import { accessLevelName } from "@conn/core";
import { type Enforcer, newEnforcer, newModelFromString } from "casbin";
import { ids, rowOf } from "./dataset.js";
import type { DataSetSize } from "./options.js";

/**
 * The ACL model of casbin's own basic example (`basic_model.conf`): one policy line per grant, and a matcher that
 * compares the request with each policy line in turn.
 */
const ACL_MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
`;

/**
 * An RBAC model that keeps each grant as a role link `account → context/level`, so a check is a role-manager look-up
 * rather than a scan of the policy lines: the fastest way we found to hold 100,000 grants in casbin.
 */
const RBAC_MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, r.obj + "/" + r.act) && p.act == "any"
`;

/** The two casbin enforcers, loaded with the grants of the warm data set. */
export interface CasbinPeer {
  /** casbin's basic ACL model: a policy line per grant. */
  acl: Enforcer;
  /** The RBAC model: a role link per grant. */
  rbac: Enforcer;
  /** Grants loaded into each. */
  grants: number;
}

/** Loads the warm data set's grants (the same pairs and levels the adapters hold) into both enforcers. */
export async function loadCasbin(size: DataSetSize): Promise<CasbinPeer> {
  const acl = await newEnforcer(newModelFromString(ACL_MODEL));
  const rbac = await newEnforcer(newModelFromString(RBAC_MODEL));
  const policies: string[][] = [];
  const links: string[][] = [];
  for (let i = 0; i < size.connections; i++) {
    const row = rowOf(i, size);
    const account = ids.account(row.account);
    const context = ids.context(row.context);
    const level = accessLevelName[row.access];
    policies.push([account, context, level]);
    links.push([account, `${context}/${level}`]);
  }
  await acl.addPolicies(policies);
  await rbac.addPolicy("*", "*", "any");
  await rbac.addGroupingPolicies(links);
  return { acl, rbac, grants: size.connections };
}
