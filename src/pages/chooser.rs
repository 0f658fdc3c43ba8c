//! The login chooser: one button per provider that can reach the level asked for.
//!
//! FranceConnect buttons use the official wording ("S'identifier avec FranceConnect", with the
//! link "Qu'est-ce que FranceConnect ?"), FranceConnect+ its own variant, MConnect the label the
//! operator configures (its visual elements are given at onboarding). FranceConnect buttons come
//! first, separated from the other methods by "ou", as the FranceConnect guidelines ask.

use super::{escape, Pages};
use crate::config::Flavour;
use crate::policy::Level;
use crate::web::{Lang, Reply};
use http::StatusCode;

/// One provider on the chooser.
pub struct ChooserEntry<'a> {
    pub display_name: &'a str,
    pub flavour: Flavour,
    /// `/.guichet/login?provider=NAME&...`
    pub href: String,
}

fn is_franceconnect(f: Flavour) -> bool {
    matches!(
        f,
        Flavour::FranceConnectV1 | Flavour::FranceConnectV2 | Flavour::FranceConnectPlus
    )
}

/// The official FranceConnect wording, with the typographic apostrophe.
const FC_LOGIN: &str = "S’identifier avec";

fn button(lang: Lang, e: &ChooserEntry<'_>) -> String {
    let href = escape(&e.href);
    match e.flavour {
        // The DSFR FranceConnect button: "S’identifier avec" then the brand, blue France,
        // colours and label not to be changed; the "what is it" link below, in a new window.
        Flavour::FranceConnectV1 | Flavour::FranceConnectV2 => format!(
            "<li lang=\"fr\"><a class=\"fc\" href=\"{href}\"><span class=\"fc-login\">{FC_LOGIN}</span> \
             <span class=\"fc-brand\">FranceConnect</span></a>\
             <a class=\"help\" href=\"https://franceconnect.gouv.fr/\" target=\"_blank\" \
             rel=\"noopener\" title=\"Qu’est-ce que FranceConnect ? - nouvelle fenêtre\">Qu’est-ce que FranceConnect ?</a></li>"
        ),
        Flavour::FranceConnectPlus => format!(
            "<li lang=\"fr\"><p class=\"lead\">FranceConnect+ est la solution proposée par l’État, pour \
             renforcer la sécurité de vos services en ligne les plus sensibles</p>\
             <a class=\"fc\" href=\"{href}\"><span class=\"fc-login\">{FC_LOGIN}</span> \
             <span class=\"fc-brand\">FranceConnect+</span></a>\
             <a class=\"help\" href=\"https://franceconnect.gouv.fr/france-connect-plus\" \
             target=\"_blank\" rel=\"noopener\" title=\"Qu’est-ce que FranceConnect+ ? - nouvelle fenêtre\">\
             Qu’est-ce que FranceConnect+ ?</a></li>"
        ),
        // MConnect's button label is the operator's (`display_name`, default "S'identifier
        // avec MConnect"): its visual elements come with the onboarding.
        Flavour::MConnect => format!(
            "<li><a class=\"btn\" href=\"{href}\">{}</a></li>",
            escape(e.display_name)
        ),
        Flavour::Generic => {
            let label = match lang {
                Lang::Fr => format!("Se connecter avec {}", escape(e.display_name)),
                Lang::En => format!("Log in with {}", escape(e.display_name)),
            };
            format!("<li><a class=\"btn\" href=\"{href}\">{label}</a></li>")
        }
    }
}

fn level_name(level: Level, lang: Lang) -> &'static str {
    match (level, lang) {
        (Level::Low, Lang::Fr) => "faible",
        (Level::Substantial, Lang::Fr) => "substantiel",
        (Level::High, Lang::Fr) => "élevé",
        (Level::Low, Lang::En) => "low",
        (Level::Substantial, Lang::En) => "substantial",
        (Level::High, Lang::En) => "high",
    }
}

impl Pages {
    /// The chooser for these providers; `level` is the level the page asked for (step-up).
    pub fn chooser(
        &self,
        lang: Lang,
        providers: &[ChooserEntry<'_>],
        level: Option<Level>,
    ) -> Reply {
        let own = self.texts(lang);
        let title = own.chooser_title.as_deref().unwrap_or(match lang {
            Lang::Fr => "Se connecter",
            Lang::En => "Log in",
        });
        let list = |fc: bool| -> String {
            providers
                .iter()
                .filter(|e| is_franceconnect(e.flavour) == fc)
                .map(|e| button(lang, e))
                .collect()
        };
        let (fc, others) = (list(true), list(false));
        let or = match lang {
            Lang::Fr => "ou",
            Lang::En => "or",
        };
        let buttons = match (fc.is_empty(), others.is_empty()) {
            (false, false) => format!(
                "<ul class=\"providers\">{fc}</ul><p class=\"sep\">{or}</p>\
                 <ul class=\"providers\">{others}</ul>"
            ),
            _ => format!("<ul class=\"providers\">{fc}{others}</ul>"),
        };
        let why = match (level, lang) {
            (Some(l), Lang::Fr) => format!(
                "<p>Cette page demande un niveau de garantie d'identité {} ou supérieur.</p>",
                level_name(l, lang)
            ),
            (Some(l), Lang::En) => format!(
                "<p>This page requires a {} or higher level of identity assurance.</p>",
                level_name(l, lang)
            ),
            (None, _) => String::new(),
        };
        let intro = own.chooser_intro.as_deref().unwrap_or(match lang {
            Lang::Fr => "Choisissez comment vous identifier :",
            Lang::En => "Choose how to identify yourself:",
        });
        let other = self.other_login_link(lang);
        let other = if other.is_empty() {
            other
        } else {
            format!("<p>{other}</p>")
        };
        let body = format!(
            "<h1>{}</h1>{why}<p>{}</p>{buttons}{other}",
            escape(title),
            escape(intro)
        );
        self.page(StatusCode::OK, lang, title, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PagesConfig;

    fn pages() -> Pages {
        let mut c = PagesConfig::named("Mairie");
        c.other_login_url = Some("/login-classique".into());
        Pages::new(&c, "/.guichet")
    }

    fn entry(name: &'static str, flavour: Flavour) -> ChooserEntry<'static> {
        ChooserEntry {
            display_name: name,
            flavour,
            href: format!("/.guichet/login?provider={name}"),
        }
    }

    fn body(r: Reply) -> String {
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    #[test]
    fn chooser_uses_official_franceconnect_wording() {
        let r = pages().chooser(
            Lang::En,
            &[entry("FranceConnect", Flavour::FranceConnectV2)],
            None,
        );
        let b = body(r);
        assert!(b.contains(
            "<span class=\"fc-login\">S’identifier avec</span> <span class=\"fc-brand\">FranceConnect</span></a>"
        ));
        assert!(b.contains("href=\"https://franceconnect.gouv.fr/\""));
        assert!(b.contains("Qu’est-ce que FranceConnect ?</a>"));
        assert!(b.contains("title=\"Qu’est-ce que FranceConnect ? - nouvelle fenêtre\""));
        assert!(b.contains("Log in another way"));
        assert!(b.contains("lang=\"en\""));
    }

    #[test]
    fn every_flavour_has_its_button_franceconnect_first() {
        let r = pages().chooser(
            Lang::Fr,
            &[
                entry("Compte agent", Flavour::Generic),
                entry("S'identifier avec MConnect <b>", Flavour::MConnect),
                entry("FC+", Flavour::FranceConnectPlus),
                entry("FC v1", Flavour::FranceConnectV1),
            ],
            Some(Level::Substantial),
        );
        let b = body(r);
        assert!(b.contains("<span class=\"fc-brand\">FranceConnect+</span></a>"));
        assert!(b.contains("href=\"https://franceconnect.gouv.fr/france-connect-plus\""));
        assert!(b.contains("Qu’est-ce que FranceConnect+ ?</a>"));
        assert!(b.contains("renforcer la sécurité"));
        assert!(b.contains("S&#39;identifier avec MConnect &lt;b&gt;</a>"));
        assert!(b.contains("Se connecter avec Compte agent"));
        assert!(b.contains("niveau de garantie d'identité substantiel"));
        let fc = b.find("provider=FC+").unwrap();
        let sep = b.find("<p class=\"sep\">ou</p>").unwrap();
        let other = b.find("provider=Compte agent").unwrap();
        assert!(fc < sep && sep < other);
        assert!(b.contains("href=\"/login-classique\""));
    }
}
