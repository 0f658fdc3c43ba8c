// Runs panva's node-oidc-provider (certified by the OpenID Foundation) on 127.0.0.1 for
// guichet's integration tests (tests/certified_provider.rs drives it; see
// tests/common/oidc_provider.rs). Nothing here is a mock of OpenID Connect: the provider is
// the library as published, configured through its documented options.
//
//   node launcher.mjs CONFIG.json
//
// CONFIG (written by the test):
//   issuerPath      "" (issuer http://127.0.0.1:PORT) or "/" (an issuer ending in a slash)
//   clients         client metadata (client_id, client_secret, redirect_uris,
//                   post_logout_redirect_uris, token_endpoint_auth_method,
//                   id_token_signed_response_alg, userinfo_signed_response_alg,
//                   backchannel_logout_uri, backchannel_logout_session_required)
//   accounts        { "login": { claims } }: what findAccount returns (sub = the login)
//   pkceRequired    refuse authorization requests without PKCE
//   issParameter    false: behave as a provider without RFC 9207 (no `iss` in authorization
//                   responses, nothing said in discovery); default true, as the library does
//   idTokenTtl      seconds (default 60, FranceConnect's)
//   clockOffset     seconds added to the provider's clock (skew tests)
//
// Prints one line `READY {"issuer": ..., "port": ...}` on stdout once listening. Test-only
// control endpoints, outside the provider's routes:
//   POST /__control/rotate        new signing keys (new kid), old ones withdrawn
//   POST /__control/clock?offset=N  the provider's clock N seconds off
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// The library's notices go to stderr; stdout carries the READY line only.
console.log = console.error;
console.info = console.error;

// The provider's clock (skew tests): oidc-provider reads time through Date.now().
const realNow = Date.now.bind(Date);
let offsetMs = (config.clockOffset || 0) * 1000;
Date.now = () => realNow() + offsetMs;

// One RSA and one EC P-256 signing key with fresh key ids; the client's registered algorithm
// chooses which one signs.
function signingKeys() {
  const key = (type, options, alg) => ({
    ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
    kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`,
    alg,
    use: 'sig',
  });
  return [
    key('rsa', { modulusLength: 2048 }, 'RS256'),
    key('ec', { namedCurve: 'P-256' }, 'ES256'),
  ];
}

// Standard claims (OpenID Connect Core 5.4) by scope.
const claims = {
  openid: ['sub'],
  profile: [
    'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username',
    'gender', 'birthdate', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
};

const cookieKeys = [randomBytes(32).toString('hex')];

function build(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys },
    claims,
    cookies: { keys: cookieKeys },
    ttl: {
      IdToken: config.idTokenTtl || 60,
      AccessToken: 120,
      AuthorizationCode: 60,
      Session: 3600,
      Grant: 3600,
      Interaction: 600,
    },
    pkce: {
      methods: ['S256'],
      required: () => Boolean(config.pkceRequired),
    },
    features: {
      // The library's own login page (any password): the test posts its form as a browser.
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      jwtUserinfo: { enabled: true },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
    },
    async findAccount(ctx, sub) {
      const account = config.accounts[sub];
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...account, sub };
        },
      };
    },
    // First-party client: what it asks for is granted without a consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      await grant.save();
      return grant;
    },
  });
  if (config.issParameter === false) {
    // A provider without RFC 9207: no `iss` in authorization responses, none advertised.
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path.endsWith('/.well-known/openid-configuration') && ctx.body) {
        delete ctx.body.authorization_response_iss_parameter_supported;
      }
      const location = ctx.response.get('location');
      if (location && location.includes('iss=')) {
        const url = new URL(location);
        url.searchParams.delete('iss');
        ctx.response.set('location', url.href);
      }
    });
  }
  provider.on('backchannel.error', (ctx, err) => {
    process.stderr.write(`back-channel logout failed: ${err.message}\n`);
  });
  return provider;
}

let provider;
let handler;
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__control/')) {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/__control/rotate') {
      provider = build(provider.issuer, signingKeys());
      handler = provider.callback();
    } else if (url.pathname === '/__control/clock') {
      offsetMs = Number(url.searchParams.get('offset') || 0) * 1000;
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
    return;
  }
  handler(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${config.issuerPath || ''}`;
  provider = build(issuer, signingKeys());
  handler = provider.callback();
  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
});

// The test kills the process; stdin closing (the test process died) stops it too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
