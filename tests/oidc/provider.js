// provider.js: the real OpenID provider (the oidc-provider package) that tests/test_sso.c starts
// on loopback (docs/sso.md). Not a mock: discovery, JWKS, the authorization endpoint with PKCE,
// the token endpoint and ID token signing are the package's own. Only the login and consent
// pages are replaced by a step that signs in the account the test named and grants its scopes,
// so that a test drives the whole flow by following redirects.
//
//   node provider.js PORT KID ALG ID_TOKEN_TTL REDIRECT_PREFIX [NOW]
//     PORT          0 for any free port; the chosen one is printed as "port N" on stdout
//     KID           the kid of the signing key, generated afresh at each start (a restart
//                   with another kid is a key rotation)
//     ALG           RS256 or ES256: the key's type and the clients' ID token algorithm
//     ID_TOKEN_TTL  seconds
//     REDIRECT_PREFIX  what every redirect URI of both clients, "custos" and "intruder", starts
//                   with: Custos has a callback per tenant (/v1/tenants/{t}/sso/callback), whose
//                   ids the test learns only after the provider runs
//     NOW           unix seconds the provider's clock reads at start (0 or absent: the real
//                   clock), so that a scenario living at a simulated date gets tokens of that
//                   date; the clock runs on from there
//
// Control (loopback only, for the test): GET /_test/email?e=ADDRESS sets the email of the next
// logins' account.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const [port, kid, alg, ttl, redirect, now] = process.argv.slice(2);
if (Number(now) > 0) {
  const offset = Number(now) * 1000 - Date.now();
  const real = Date.now;
  Date.now = () => real() + offset;
}
let email = 'ana@acme.example';

const { privateKey } = alg === 'ES256'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };

function client(id, secret = `${id}-secret-0123456789abcdef`) {
  return {
    client_id: id,
    client_secret: secret,
    redirect_uris: [`${redirect}0/sso/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
  };
}

const server = http.createServer();
server.listen(Number(port), '127.0.0.1', () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const provider = new Provider(issuer, {
    // "odd:client" and its secret need RFC 6749 2.3.1's form-encoding in HTTP Basic.
    clients: [client('custos'), client('intruder'), client('odd:client', 'p%ss+w:rd/ 0123456789')],
    jwks: { keys: [jwk] },
    cookies: { keys: ['custos-test-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: { IdToken: Number(ttl) },
    // The email claims in the ID token itself, as Custos reads no userinfo endpoint.
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      return { accountId: sub, claims: async () => ({ sub, email: sub, email_verified: true }) };
    },
  });
  // Any callback under the prefix is registered (a real provider registers each tenant's).
  provider.Client.prototype.redirectUriAllowed = function allowed(uri) {
    return typeof uri === 'string' && uri.startsWith(redirect) && uri.endsWith('/sso/callback');
  };
  const callback = provider.callback();

  // Signs in the account the test named (its email is its sub) and grants what is asked.
  async function interact(req, res) {
    const d = await provider.interactionDetails(req, res);
    if (d.prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: email } },
        { mergeWithLastSubmission: false });
      return;
    }
    const grant = d.grantId ? await provider.Grant.find(d.grantId)
      : new provider.Grant({ accountId: d.session.accountId, clientId: d.params.client_id });
    grant.addOIDCScope(d.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/_test/email') {
      email = url.searchParams.get('e');
      res.end('ok');
    } else if (url.pathname.startsWith('/interaction/')) {
      interact(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
    } else {
      callback(req, res);
    }
  });
  process.stdout.write(`port ${actual}\n`);
});
