//! The three protocol steps of a login: the authorization request URL, the code exchange at
//! the token endpoint, and the userinfo call.

use super::jws::{self, Expect, TokenError};
use super::{http, jwe, Endpoints, OidcError, Provider};
use crate::config::{Pkce, TokenAuth, UserinfoFormat};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// What one authorization request carries besides the provider's fixed parameters.
pub struct AuthorizeRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub acr_values: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub login_hint: Option<&'a str>,
}

impl Provider {
    /// Should this login send a PKCE challenge?
    pub fn wants_pkce(&self, endpoints: &Endpoints) -> bool {
        match self.cfg.pkce {
            Pkce::Always => true,
            Pkce::Never => false,
            Pkce::Auto => endpoints.pkce_s256,
        }
    }

    /// The URL the browser is sent to.
    pub fn authorize_url(&self, endpoints: &Endpoints, req: &AuthorizeRequest<'_>) -> String {
        let scope = self.cfg.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.cfg.client_id),
            ("redirect_uri", req.redirect_uri),
            ("scope", &scope),
            ("state", req.state),
            ("nonce", req.nonce),
        ];
        if let Some(acr) = req.acr_values {
            params.push(("acr_values", acr));
        }
        if let Some(challenge) = req.code_challenge {
            params.push(("code_challenge", challenge));
            params.push(("code_challenge_method", "S256"));
        }
        // FranceConnect refuses every parameter outside its list, `login_hint` included
        // (config/franceconnect.rs): the hint goes to other providers only.
        if let Some(hint) = req
            .login_hint
            .filter(|_| !self.cfg.flavour.is_franceconnect())
        {
            params.push(("login_hint", hint));
        }
        for (k, v) in &self.cfg.authorize_params {
            params.push((k, v));
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let sep = if endpoints.authorization.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", endpoints.authorization)
    }

    /// Exchanges the authorization code. Returns `(access_token, id_token)`.
    pub async fn exchange_code(
        &self,
        endpoints: &Endpoints,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<(String, String), OidcError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        let req = self
            .client_post(&endpoints.token, endpoints.token_auth, form)
            .header(reqwest::header::ACCEPT, "application/json");
        let resp = http::send(req, "token").await?;
        if resp.status >= 500 {
            return Err(OidcError::Unavailable(format!(
                "token: HTTP {}",
                resp.status
            )));
        }
        if !resp.is_json() {
            return Err(OidcError::BadResponse("token", "not JSON"));
        }
        let json: Map<String, Value> = serde_json::from_slice(&resp.body)
            .map_err(|_| OidcError::BadResponse("token", "not a JSON object"))?;
        if resp.status != 200 {
            let code = json
                .get("error")
                .and_then(Value::as_str)
                .map(sanitize_error_code)
                .unwrap_or_else(|| format!("http_{}", resp.status));
            return Err(OidcError::TokenRefused(code));
        }
        let access = json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| is_token_string(t))
            .ok_or(OidcError::BadResponse("token", "no valid access_token"))?;
        let id_token = json
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|t| is_token_string(t))
            .ok_or(OidcError::BadResponse("token", "no valid id_token"))?;
        if let Some(tt) = json.get("token_type").and_then(Value::as_str) {
            if !tt.eq_ignore_ascii_case("bearer") {
                return Err(OidcError::BadResponse("token", "token_type is not Bearer"));
            }
        }
        Ok((access.to_string(), id_token.to_string()))
    }

    /// A form POST to one of the provider's endpoints that authenticate the client (token,
    /// revocation): with `client_secret_basic`, the credentials in `Authorization` (RFC 6749
    /// 2.3.1: both parts form-urlencoded before base64); otherwise (`client_secret_post`)
    /// `client_id` and `client_secret` appended to `form`.
    fn client_post<'a>(
        &'a self,
        url: &str,
        auth: TokenAuth,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> reqwest::RequestBuilder {
        let secret = self.cfg.client_secret.expose();
        let mut req = self.http().post(url);
        match auth {
            TokenAuth::ClientSecretBasic => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let creds =
                    STANDARD.encode(format!("{}:{}", enc(&self.cfg.client_id), enc(secret)));
                req = req.header(reqwest::header::AUTHORIZATION, format!("Basic {creds}"));
            }
            TokenAuth::ClientSecretPost | TokenAuth::Auto => {
                form.push(("client_id", &self.cfg.client_id));
                form.push(("client_secret", secret));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        req.header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
    }

    /// Revokes an access token guichet no longer needs (RFC 7009), authenticating as at the
    /// token endpoint. The form is exactly `token`, `client_id`, `client_secret` with
    /// `client_secret_post`: FranceConnect's revocation endpoint refuses any other field
    /// (`token_type_hint` included: `back/libs/oidc-provider/src/dto/revocation-token-params.dto.ts`
    /// in `github.com/france-connect/sources`).
    pub async fn revoke(&self, endpoints: &Endpoints, access_token: &str) -> Result<(), OidcError> {
        let Some(url) = &endpoints.revocation else {
            return Err(OidcError::BadResponse(
                "revocation",
                "no revocation_endpoint",
            ));
        };
        let form: Vec<(&str, &str)> = vec![("token", access_token)];
        let req = self.client_post(url, endpoints.token_auth, form);
        let resp = http::send(req, "revocation").await?;
        match resp.status {
            200 => Ok(()),
            s if s >= 500 => Err(OidcError::Unavailable(format!("revocation: HTTP {s}"))),
            _ => Err(OidcError::BadResponse("revocation", "refused")),
        }
    }

    /// [`Provider::revoke`] without holding up the citizen: the answer changes nothing to the
    /// login (the token dies within a minute anyway at FranceConnect), a failure is logged
    /// (without the token). Bounded by the provider's `http_timeout`.
    pub fn revoke_in_background(
        provider: std::sync::Arc<Provider>,
        endpoints: std::sync::Arc<Endpoints>,
        access_token: String,
    ) {
        tokio::spawn(async move {
            match provider.revoke(&endpoints, &access_token).await {
                Ok(()) => tracing::debug!(provider = provider.name(), "access token revoked"),
                Err(e) => tracing::warn!(
                    provider = provider.name(),
                    reason = %e.reason(),
                    "access token revocation failed"
                ),
            }
        });
    }

    /// Calls userinfo and returns its claims, checking that `sub` is the id_token's.
    pub async fn userinfo(
        &self,
        endpoints: &Endpoints,
        access_token: &str,
        expected_sub: &str,
        now: u64,
    ) -> Result<Map<String, Value>, OidcError> {
        let Some(url) = &endpoints.userinfo else {
            return Ok(Map::new());
        };
        let req = self.http().get(url).header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {access_token}"),
        );
        let resp = http::send(req, "userinfo").await?;
        if resp.status >= 500 {
            return Err(OidcError::Unavailable(format!(
                "userinfo: HTTP {}",
                resp.status
            )));
        }
        if resp.status != 200 {
            return Err(OidcError::BadResponse(
                "userinfo",
                "refused the access token",
            ));
        }
        let token_expected = match self.cfg.userinfo {
            UserinfoFormat::Jwt | UserinfoFormat::Jwe => true,
            UserinfoFormat::Json => false,
            UserinfoFormat::Auto => resp.is_jwt(),
        };
        let claims = if token_expected {
            if resp.is_json() {
                // A provider pinned to signed (or encrypted) userinfo that answers plain JSON is
                // refused: an attacker on the path could otherwise strip the signature.
                let e = if self.cfg.userinfo == UserinfoFormat::Jwe {
                    TokenError::NotEncrypted
                } else {
                    TokenError::Malformed
                };
                return Err(OidcError::Userinfo(e));
            }
            let body = std::str::from_utf8(&resp.body)
                .map_err(|_| OidcError::Userinfo(TokenError::Malformed))?
                .trim();
            // FranceConnect+: a JWE around the JWS (a plain JWS is refused when pinned to JWE).
            let token = jwe::open(self, body).map_err(OidcError::Userinfo)?;
            let expect = Expect {
                require_times: false,
                require_aud: false,
                logout: false,
                nonce: None,
                now,
            };
            jws::verify(self, &token, &expect)
                .await
                .map_err(OidcError::Userinfo)?
        } else {
            if !resp.is_json() {
                return Err(OidcError::BadResponse("userinfo", "not JSON"));
            }
            serde_json::from_slice(&resp.body)
                .map_err(|_| OidcError::BadResponse("userinfo", "not a JSON object"))?
        };
        if claims.get("sub").and_then(Value::as_str) != Some(expected_sub) {
            return Err(OidcError::Userinfo(TokenError::SubMismatch));
        }
        Ok(claims)
    }
}

/// Tokens are printable ASCII without spaces, and bounded.
fn is_token_string(t: &str) -> bool {
    !t.is_empty() && t.len() <= jws::MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic())
}

/// An OAuth `error` value reduced to its allowed charset and a bounded length, so it can be
/// logged and shown without carrying anything else.
pub fn sanitize_error_code(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_reduced_to_a_safe_charset() {
        assert_eq!(sanitize_error_code("access_denied"), "access_denied");
        assert_eq!(
            sanitize_error_code("<script>x</script>\r\n"),
            "scriptxscript"
        );
        assert_eq!(sanitize_error_code("éé"), "unknown");
        assert_eq!(sanitize_error_code(&"a".repeat(500)).len(), 64);
    }
}
