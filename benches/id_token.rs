//! id_token validation at the callback (once per login, never per request): the mock
//! FranceConnect provider on loopback signs a real id_token; guichet's verifier checks the
//! pinned algorithm, finds the key in the provider's JWKS (fetched once, then cached) and
//! checks signature, `iss`, `aud`, `exp`, `iat` and `nonce`.
//! `cargo bench --bench id_token`. Figures, never pass/fail.

use criterion::{criterion_group, criterion_main, Criterion};
use guichet::config::Config;
use guichet::demo::provider::{MockConfig, MockProvider};
use guichet::oidc::jws::{verify, Expect};
use guichet::oidc::Provider;
use std::hint::black_box;
use std::path::Path;

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mock, provider) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mock = MockProvider::serve(listener, MockConfig::default())
            .await
            .expect("mock");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, mock.client_secret()).expect("secret");
        let text = format!(
            "[server]\npublic_url = \"https://demarches.example.fr\"\n\
             [upstream]\nurl = \"http://127.0.0.1:3000\"\n\
             [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2-integration\"\n\
             issuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"file:{}\"\n",
            mock.issuer(),
            mock.client_id(),
            secret.display()
        );
        let cfg = Config::from_toml(&text, Path::new("bench.toml")).expect("config");
        let pcfg = cfg.providers.into_iter().next().expect("provider");
        let provider = Provider::new(pcfg).expect("provider");
        provider.discover().await.expect("discovery");
        (mock, provider)
    });
    let now = guichet::session::now();
    let claims = serde_json::json!({
        "iss": mock.issuer(), "aud": mock.client_id(),
        "sub": "53ed7e08f2fcb14c2464576370556d1aa37afee022b6249ff44fb8a19a68b7a9v1",
        "exp": now + 60, "iat": now, "nonce": "n-0S6_WzA2Mj", "acr": "eidas1",
        "amr": ["pwd"], "auth_time": now,
    });
    let token = mock.sign_jwt("JWT", &claims);
    let expect = Expect {
        require_times: true,
        require_aud: true,
        logout: false,
        nonce: Some("n-0S6_WzA2Mj"),
        now,
    };
    // The first verification fetches the JWKS; the measured ones use the cached keys.
    rt.block_on(verify(&provider, &token, &expect))
        .expect("a valid id_token");
    c.bench_function("id_token validation (RS256, cached JWKS)", |b| {
        b.iter(|| {
            rt.block_on(verify(&provider, black_box(&token), &expect))
                .expect("valid")
        })
    });
}

criterion_group!(id_token, benches);
criterion_main!(id_token);
