//! Is an authorization response (success or error) the answer of the provider its login was
//! sent to? The mix-up defence of RFC 9700 4.4.2, by design:
//!
//! - with several providers each has its own redirect URI (`callback/NAME`), so a response
//!   must arrive at the one of the login's provider, whatever it carries;
//! - RFC 9207's `iss`, when the provider sends it (its discovery advertises
//!   `authorization_response_iss_parameter_supported`, or its preset says it always does), is
//!   required, on error responses too, and equal to the configured issuer byte for byte; an
//!   `iss` from any other provider is compared the same way.
//!
//! Invariant: a response that fails here is refused before its code is sent anywhere
//! (`tests/login_security.rs::{rfc_9207_iss_is_required_and_exact_on_success_and_error_responses,
//! with_several_providers_a_response_is_only_taken_at_its_own_redirect_uri}`,
//! `tests/certified_provider.rs::rfc_9207_iss_present_absent_or_wrong`).

use crate::config::ProviderConfig;

/// Why a response is not the expected provider's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Foreign {
    #[error("response arrived at another provider's redirect URI")]
    WrongCallback,
    #[error("response without the iss the provider always sends")]
    MissingIssuer,
    #[error("response naming another issuer")]
    WrongIssuer,
}

impl Foreign {
    /// Reason code (evidence log, metrics).
    pub fn reason(self) -> &'static str {
        match self {
            Foreign::WrongCallback => "response_wrong_callback",
            Foreign::MissingIssuer => "response_missing_issuer",
            Foreign::WrongIssuer => "response_wrong_issuer",
        }
    }
}

/// Checks a response that arrived at `leaf` (`callback` or `callback/NAME`) with the `iss`
/// parameter `iss` (`Err` when the parameter is repeated or malformed) for a login sent to
/// `provider`, whose discovery `advertised` RFC 9207 (or not).
pub fn check(
    provider: &ProviderConfig,
    advertised: bool,
    leaf: &str,
    iss: Result<Option<&str>, ()>,
) -> Result<(), Foreign> {
    if leaf != provider.callback_leaf {
        return Err(Foreign::WrongCallback);
    }
    let required = advertised || provider.authorization_response_iss;
    match iss {
        Ok(Some(iss)) if iss == provider.issuer => Ok(()),
        Ok(None) if !required => Ok(()),
        Ok(None) => Err(Foreign::MissingIssuer),
        _ => Err(Foreign::WrongIssuer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::io::Write;
    use std::path::Path;

    /// Two providers: `fc` (FranceConnect v2, always sends `iss`) and `agents` (generic, whose
    /// issuer ends in a slash).
    fn providers() -> Vec<ProviderConfig> {
        let mut secret = tempfile::NamedTempFile::new().unwrap();
        writeln!(secret, "{}", "ab".repeat(32)).unwrap();
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://demarches.example.fr\"\n\
             [upstream]\nurl = \"http://127.0.0.1:3000\"\n\
             [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2\"\nclient_id = \"a\"\n\
             client_secret = \"file:{0}\"\n\
             [[providers]]\nname = \"agents\"\npreset = \"generic\"\nissuer = \"https://sso.example/\"\n\
             client_id = \"b\"\nclient_secret = \"file:{0}\"\n",
            secret.path().display()
        );
        Config::from_toml(&text, Path::new("guichet.toml"))
            .unwrap()
            .providers
    }

    #[test]
    fn a_response_must_come_back_to_its_provider_s_redirect_uri_with_its_issuer() {
        let p = providers();
        let (fc, agents) = (&p[0], &p[1]);
        let fc_iss = "https://oidc.franceconnect.gouv.fr/api/v2";
        assert_eq!(check(fc, false, "callback/fc", Ok(Some(fc_iss))), Ok(()));
        // FranceConnect always sends `iss`: required even if discovery did not say so.
        assert_eq!(
            check(fc, false, "callback/fc", Ok(None)),
            Err(Foreign::MissingIssuer)
        );
        for wrong in [
            "https://oidc.franceconnect.gouv.fr/api/v2/",
            "https://sso.example/",
            "",
        ] {
            assert_eq!(
                check(fc, true, "callback/fc", Ok(Some(wrong))),
                Err(Foreign::WrongIssuer),
                "{wrong}"
            );
        }
        assert_eq!(
            check(fc, true, "callback/fc", Err(())),
            Err(Foreign::WrongIssuer)
        );
        // Another provider's redirect URI, or the single-provider one: refused, iss or not.
        for leaf in ["callback/agents", "callback", "callback/fc/x"] {
            assert_eq!(
                check(fc, true, leaf, Ok(Some(fc_iss))),
                Err(Foreign::WrongCallback),
                "{leaf}"
            );
        }
        // A provider without RFC 9207: `iss` optional, compared when present (slash kept).
        assert_eq!(check(agents, false, "callback/agents", Ok(None)), Ok(()));
        assert_eq!(
            check(
                agents,
                false,
                "callback/agents",
                Ok(Some("https://sso.example/"))
            ),
            Ok(())
        );
        assert_eq!(
            check(
                agents,
                false,
                "callback/agents",
                Ok(Some("https://sso.example"))
            ),
            Err(Foreign::WrongIssuer)
        );
        // Its discovery advertises it: required.
        assert_eq!(
            check(agents, true, "callback/agents", Ok(None)),
            Err(Foreign::MissingIssuer)
        );
    }
}
