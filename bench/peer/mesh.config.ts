// The peer of the yiwang benchmark (issue 3): GraphQL Mesh composes the JSON departments' OpenAPI documents into a
// supergraph that Hive Gateway serves. Written the way a Mesh user would write it; bench/harness.py runs
//   MOCK_BASE_PORT=<base> mesh-compose -o <workdir>/supergraph.graphql
//   HOUSING_TOKEN=<token> hive-gateway supergraph <workdir>/supergraph.graphql
//
// - Each source gets an explicit `endpoint` (the documents have no usable `servers`) and `ignoreErrorResponses`.
// - environment (环保) is left out: it speaks XML, which the OpenAPI loader does not read.
// - housing (住建) wants an OAuth2 client-credentials Bearer token. Mesh has no client-credentials flow of its own,
//   so the token is fetched before the gateway starts and passed in `operationHeaders` from the environment
//   (interpolated per request by the REST transport). The mock's tokens live 300 s; the harness fetches a fresh
//   one every time it starts the gateway.
// - Cross-department links: `additionalTypeDefs` with `@resolveTo`. A case (案卷) about a water component links to
//   it through the water department's batch endpoint, one call per case (Mesh resolves per parent: the endpoint
//   takes a comma-separated string, not a list argument that `keysArg` batching could fill).
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const base = Number(process.env.MOCK_BASE_PORT ?? 9100);
const department = (offset: number) => `http://127.0.0.1:${base + offset}`;

function source(name: string, offset: number, extra: Record<string, unknown> = {}) {
  return {
    sourceHandler: loadOpenAPISubgraph(name, {
      source: `${department(offset)}/openapi.json`,
      endpoint: department(offset),
      ignoreErrorResponses: true,
      ...extra,
    }),
  };
}

export const composeConfig = defineConfig({
  subgraphs: [
    source('water', 1),
    source('transport', 2),
    source('housing', 4, { operationHeaders: { Authorization: 'Bearer {env.HOUSING_TOKEN}' } }),
    source('citymgmt', 5),
  ],
  additionalTypeDefs: /* GraphQL */ `
    extend type Case {
      """The water component the case is about (部件标识码 bjbsm), from the water department"""
      component: Facility
        @resolveTo(
          sourceName: "water"
          sourceTypeName: "Query"
          sourceFieldName: "batchFacilities"
          requiredSelectionSet: "{ bjbsm }"
          sourceArgs: { codes: "{root.bjbsm}" }
          result: "data.records[0]"
        )
    }
  `,
});
