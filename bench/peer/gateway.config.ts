// Hive Gateway's runtime settings for the yiwang benchmark (hive-gateway reads gateway.config.ts from its working
// directory, bench/peer): JWT verification, so that scenario 5 has the peer verify the very tokens yiwang verifies.
//
// The keys are yiwang's demo issuer's JWKS (gateway/auth/demo.py: demo_jwks): the public half of the committed demo
// key, kid "yiwang-demo-1", alg ES256, use sig. It is built here from that key and handed to the JWKS client the
// way a remote JWKS would be (kid lookup, cached), and tokens are checked as yiwang checks them: ES256 only, issuer
// "yiwang-demo", audience "yiwang", 30 s of clock tolerance (yiwang's default leeway), expiry when present.
// Requests without a token pass (scenarios 1-4 send none, as yiwang serves them anonymously there); a token that
// does not verify is refused.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRemoteJwksSigningKeyProvider, defineConfig, extractFromHeader } from '@graphql-hive/gateway';

const DEMO_ISSUER = 'yiwang-demo';
const DEMO_AUDIENCE = 'yiwang';
const DEMO_KEY_ID = 'yiwang-demo-1';
const DEMO_ALGORITHM = 'ES256';
const LEEWAY_S = 30;

function demoJwks() {
  const file = fileURLToPath(new URL('../../gateway/auth/demo_signing_key.pem', import.meta.url));
  const text = readFileSync(file, 'utf8');
  const pem = text.slice(text.indexOf('-----BEGIN'));
  const jwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: DEMO_KEY_ID, alg: DEMO_ALGORITHM, use: 'sig' }] };
}

const jwks = demoJwks();

export const gatewayConfig = defineConfig({
  jwt: {
    signingKeyProviders: [
      createRemoteJwksSigningKeyProvider({ fetcher: async () => jwks, cache: true, rateLimit: true }),
    ],
    tokenLookupLocations: [extractFromHeader({ name: 'authorization', prefix: 'Bearer' })],
    tokenVerification: {
      algorithms: [DEMO_ALGORITHM],
      issuer: DEMO_ISSUER,
      audience: DEMO_AUDIENCE,
      clockTolerance: LEEWAY_S,
    },
    reject: { missingToken: false, invalidToken: true },
  },
});
