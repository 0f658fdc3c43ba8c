//! The logout pages: the confirmation asked for a logout that did not come from this site,
//! guichet's own "logged out" page, and what `/.guichet/logged-out` says to a citizen whose
//! session is still alive (it never claims a logout that did not happen).
//!
//! The confirmation form carries the session's logout token (`token`, see
//! `gateway::logout`): guichet's pages send no `Referer`, so browsers send `Origin: null`
//! with the form, and the token is what proves the form is guichet's own.

use super::texts::say;
use super::{escape, Pages};
use crate::web::{Lang, Reply};
use http::StatusCode;

impl Pages {
    /// The form that logs out: a button posting to `logout`, with the session's token.
    fn logout_form(&self, lang: Lang, token: Option<&str>, yes: &str, no: &str) -> String {
        let token = token
            .map(|t| {
                format!(
                    "<input type=\"hidden\" name=\"token\" value=\"{}\">",
                    escape(t)
                )
            })
            .unwrap_or_default();
        format!(
            "<form method=\"post\" action=\"{}/logout\">{token}<div class=\"actions\">\
             <button class=\"btn\" type=\"submit\">{}</button><a href=\"/\">{}</a></div></form>",
            escape(&self.prefix),
            say(lang, yes),
            say(lang, no),
        )
    }

    /// Asks the citizen to confirm a logout that did not come from this site (a link on
    /// another site, a prefetch): the button posts the logout from this origin with the
    /// session's `token`.
    pub fn logout_confirm(&self, lang: Lang, token: Option<&str>) -> Reply {
        let (title, text, yes, no) = match lang {
            Lang::Fr => (
                "Se déconnecter ?",
                "Une demande de déconnexion venant d'un autre site a été reçue. Voulez-vous vous déconnecter de ce service ?",
                "Me déconnecter",
                "Rester connecté",
            ),
            Lang::En => (
                "Log out?",
                "A request to log out coming from another site was received. Do you want to log out of this service?",
                "Log me out",
                "Stay logged in",
            ),
        };
        let title = say(lang, title);
        let body = format!(
            "<h1>{title}</h1><p>{}</p>{}",
            say(lang, text),
            self.logout_form(lang, token, yes, no)
        );
        // The same question in the other language: `confirm` never logs out by itself.
        let switch = self.switch_href(lang, "logout", |q| {
            q.append_pair("confirm", "1");
        });
        self.page(StatusCode::OK, lang, &title, &body, &switch)
    }

    /// What `/.guichet/logged-out` shows while the citizen's session is alive (someone
    /// linked to it, or the citizen logged in again in another tab): not "logged out".
    pub fn still_logged_in(&self, lang: Lang, token: Option<&str>) -> Reply {
        let (title, text, yes, no) = match lang {
            Lang::Fr => (
                "Vous êtes toujours connecté",
                "Vous n'êtes pas déconnecté de ce service : votre session est toujours ouverte. Pour vous déconnecter, utilisez le bouton ci-dessous.",
                "Me déconnecter",
                "Revenir au service",
            ),
            Lang::En => (
                "You are still logged in",
                "You are not logged out of this service: your session is still open. To log out, use the button below.",
                "Log me out",
                "Back to the service",
            ),
        };
        let title = say(lang, title);
        let body = format!(
            "<h1>{title}</h1><p>{}</p>{}",
            say(lang, text),
            self.logout_form(lang, token, yes, no)
        );
        let switch = self.switch_href(lang, "logged-out", |_| {});
        self.page(StatusCode::OK, lang, &title, &body, &switch)
    }

    /// The page a confirmed logout answers with when it leaves this origin (the provider's
    /// logout, or the service's page): it moves on at once by itself (`meta refresh`, no
    /// script), with a link for browsers that do not. `provider`: the provider's name.
    pub fn leaving(&self, lang: Lang, to: &str, provider: Option<&str>) -> Reply {
        let (title, text, go) = match (lang, provider) {
            (Lang::Fr, Some(_)) => (
                "Déconnexion en cours",
                "Vous êtes déconnecté de ce service. Pour terminer, la déconnexion continue chez votre fournisseur d'identité :",
                "Continuer vers",
            ),
            (Lang::Fr, None) => (
                "Déconnexion en cours",
                "Vous êtes déconnecté de ce service.",
                "Continuer",
            ),
            (Lang::En, Some(_)) => (
                "Logging out",
                "You are logged out of this service. To finish, the logout goes on at your identity provider:",
                "Continue to",
            ),
            (Lang::En, None) => (
                "Logging out",
                "You are logged out of this service.",
                "Continue",
            ),
        };
        let title = say(lang, title);
        let go = match provider {
            Some(p) => format!("{} {}", say(lang, go), escape(p)),
            None => say(lang, go),
        };
        let body = format!(
            "<h1>{title}</h1><p>{}</p><div class=\"actions\"><a class=\"btn\" href=\"{}\">{go}</a></div>",
            say(lang, text),
            escape(to),
        );
        let switch = self.switch_href(lang, "logged-out", |_| {});
        let refresh = format!(
            "<meta http-equiv=\"refresh\" content=\"0;url={}\">",
            escape(to)
        );
        self.page_with_head(StatusCode::OK, lang, &title, &body, &switch, &refresh)
    }

    /// guichet's own "logged out" page.
    pub fn logged_out(&self, lang: Lang) -> Reply {
        let (title, text, again) = match lang {
            Lang::Fr => (
                "Vous êtes déconnecté",
                "Vous avez été déconnecté de ce service. Pensez à fermer votre navigateur si vous utilisez un ordinateur partagé.",
                "Se reconnecter",
            ),
            Lang::En => (
                "You are logged out",
                "You have been logged out of this service. Close your browser if you are using a shared computer.",
                "Log in again",
            ),
        };
        let own = self.texts(lang);
        let title = match &own.logged_out_title {
            Some(t) => escape(t),
            None => say(lang, title),
        };
        let text = match &own.logged_out_text {
            Some(t) => escape(t),
            None => say(lang, text),
        };
        let body = format!(
            "<h1>{title}</h1><p>{text}</p><div class=\"actions\"><a class=\"btn\" href=\"{}/login\">{again}</a>{}</div>",
            escape(&self.prefix),
            self.home_button(lang, "btn btn-secondary"),
        );
        let switch = self.switch_href(lang, "logged-out", |_| {});
        self.page(StatusCode::OK, lang, &title, &body, &switch)
    }
}
