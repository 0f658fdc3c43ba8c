//! The login chooser: one button per provider that can reach the level asked for.
//!
//! FranceConnect buttons are the State design system's `fr-connect` button (npm package
//! `@gouvfr/dsfr`, [`super::assets`]): the FranceConnect logo, then "S’identifier avec" and
//! the brand, and the link "Qu’est-ce que FranceConnect ?" in a new window; in English the
//! design system's own English wording ("Sign in with", "What is FranceConnect?").
//! FranceConnect+ adds its sentence. MConnect shows the label the operator configures (its
//! visual elements are given at onboarding); its official French label is translated on
//! English pages, any other label is marked French. FranceConnect buttons come first,
//! separated from the other methods by "ou", as the FranceConnect guidelines ask.
//!
//! A step-up (a logged-in citizen sent to a page that needs a stronger login) says so, and
//! why, in plain words, and offers a way back without changing anything.

use super::texts::say;
use super::{escape, Journey, Pages};
use crate::vocab::Flavour;
use crate::vocab::Level;
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

/// MConnect's own French label (the preset's default).
fn is_official_mconnect_label(label: &str) -> bool {
    matches!(
        label,
        "S'identifier avec MConnect" | "S’identifier avec MConnect"
    )
}

/// The design system's FranceConnect button and its "what is it" link.
fn franceconnect_button(prefix: &str, lang: Lang, href: &str, plus: bool) -> String {
    let (brand, about) = if plus {
        (
            "FranceConnect+",
            "https://franceconnect.gouv.fr/france-connect-plus",
        )
    } else {
        ("FranceConnect", "https://franceconnect.gouv.fr/")
    };
    // The official wording, not to be changed (the design system's i18n for English).
    let (login, what, new_window) = match lang {
        Lang::Fr => (
            "S’identifier avec",
            say(lang, &format!("Qu'est-ce que {brand} ?")),
            "nouvelle fenêtre",
        ),
        Lang::En => ("Sign in with", format!("What is {brand}?"), "new window"),
    };
    let lead = match (plus, lang) {
        (false, _) => String::new(),
        (true, Lang::Fr) => format!(
            "<p class=\"lead\">{}</p>",
            say(
                lang,
                "FranceConnect+ est la solution proposée par l'État, pour renforcer la sécurité de vos services en ligne les plus sensibles"
            )
        ),
        (true, Lang::En) => "<p class=\"lead\">FranceConnect+ is the solution the French State \
             offers to strengthen the security of your most sensitive online services</p>"
            .to_string(),
    };
    format!(
        "<li>{lead}<a class=\"fc\" href=\"{href}\"><img src=\"{prefix}/assets/franceconnect.svg\" alt=\"\" \
         width=\"40\" height=\"48\"><span class=\"fc-login\">{login}</span> <span class=\"fc-brand\">{brand}</span></a>\
         <a class=\"help\" href=\"{about}\" target=\"_blank\" rel=\"noopener\" title=\"{what} - {new_window}\">{what}</a></li>",
        href = escape(href),
        prefix = escape(prefix),
    )
}

fn button(prefix: &str, lang: Lang, e: &ChooserEntry<'_>) -> String {
    let href = escape(&e.href);
    match e.flavour {
        Flavour::FranceConnectV1 | Flavour::FranceConnectV2 => {
            franceconnect_button(prefix, lang, &e.href, false)
        }
        Flavour::FranceConnectPlus => franceconnect_button(prefix, lang, &e.href, true),
        // MConnect's button label is the operator's (`display_name`, default "S’identifier
        // avec MConnect"): its visual elements come with the onboarding.
        Flavour::MConnect => match lang {
            Lang::En if is_official_mconnect_label(e.display_name) => {
                format!("<li><a class=\"btn\" href=\"{href}\">Sign in with MConnect</a></li>")
            }
            // A label the operator wrote, in French: marked so.
            Lang::En => format!(
                "<li><a class=\"btn\" href=\"{href}\" lang=\"fr\">{}</a></li>",
                escape(e.display_name)
            ),
            Lang::Fr if is_official_mconnect_label(e.display_name) => format!(
                "<li><a class=\"btn\" href=\"{href}\">{}</a></li>",
                say(lang, e.display_name)
            ),
            Lang::Fr => format!(
                "<li><a class=\"btn\" href=\"{href}\">{}</a></li>",
                escape(e.display_name)
            ),
        },
        Flavour::Generic => {
            let label = match lang {
                Lang::Fr => format!("Se connecter avec {}", escape(e.display_name)),
                Lang::En => format!("Log in with {}", escape(e.display_name)),
            };
            format!("<li><a class=\"btn\" href=\"{href}\">{label}</a></li>")
        }
    }
}

/// Why a page asks for this level, in plain words.
fn why_stronger(level: Level, lang: Lang, logged_in: bool) -> &'static str {
    match (lang, logged_in, level) {
        (Lang::Fr, true, Level::High) => "Vous êtes bien connecté, mais cette page contient des informations très sensibles : pour l'ouvrir, confirmez votre identité avec le moyen de connexion le plus sûr.",
        (Lang::Fr, true, _) => "Vous êtes bien connecté, mais cette page contient des informations plus sensibles : pour l'ouvrir, confirmez votre identité avec un moyen de connexion plus sûr.",
        (Lang::Fr, false, Level::High) => "Cette page contient des informations très sensibles : elle demande le moyen de connexion le plus sûr. Seuls les moyens qui le permettent sont proposés.",
        (Lang::Fr, false, _) => "Cette page contient des informations sensibles : elle demande un moyen de connexion plus sûr. Seuls les moyens qui le permettent sont proposés.",
        (Lang::En, true, Level::High) => "You are logged in, but this page holds very sensitive information: to open it, confirm your identity with the most secure way to log in.",
        (Lang::En, true, _) => "You are logged in, but this page holds more sensitive information: to open it, confirm your identity with a more secure way to log in.",
        (Lang::En, false, Level::High) => "This page holds very sensitive information: it needs the most secure way to log in. Only the ways that offer it are listed.",
        (Lang::En, false, _) => "This page holds sensitive information: it needs a more secure way to log in. Only the ways that offer it are listed.",
    }
}

impl Pages {
    /// The chooser for these providers. `journey` is where the citizen goes after login (and
    /// the level that page asks for: step-up); `logged_in`: the citizen already has a session
    /// (below that level).
    pub fn chooser(
        &self,
        lang: Lang,
        providers: &[ChooserEntry<'_>],
        journey: &Journey,
        logged_in: bool,
    ) -> Reply {
        let own = self.texts(lang);
        let step_up = journey.level.filter(|_| logged_in);
        let title = match (step_up, &own.chooser_title) {
            (Some(_), _) => say(
                lang,
                match lang {
                    Lang::Fr => "Confirmez votre identité",
                    Lang::En => "Confirm your identity",
                },
            ),
            (None, Some(t)) => escape(t),
            (None, None) => say(
                lang,
                match lang {
                    Lang::Fr => "Se connecter",
                    Lang::En => "Log in",
                },
            ),
        };
        let list = |fc: bool| -> String {
            providers
                .iter()
                .filter(|e| is_franceconnect(e.flavour) == fc)
                .map(|e| button(&self.prefix, lang, e))
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
        let why = match journey.level {
            Some(l) if l > Level::Low => {
                format!("<p>{}</p>", say(lang, why_stronger(l, lang, logged_in)))
            }
            _ => String::new(),
        };
        let intro = match (step_up, &own.chooser_intro) {
            (Some(_), _) => say(
                lang,
                match lang {
                    Lang::Fr => "Choisissez comment confirmer votre identité :",
                    Lang::En => "Choose how to confirm your identity:",
                },
            ),
            (None, Some(t)) => escape(t),
            (None, None) => say(
                lang,
                match lang {
                    Lang::Fr => "Choisissez comment vous identifier :",
                    Lang::En => "Choose how to identify yourself:",
                },
            ),
        };
        let mut after = String::new();
        let other = self.other_login_link(lang);
        if !other.is_empty() {
            after.push_str(&format!("<p>{other}</p>"));
        }
        if step_up.is_some() {
            // A way back: the citizen keeps the session they have.
            after.push_str(&format!(
                "<p><a href=\"/\">{}</a></p>",
                say(
                    lang,
                    match lang {
                        Lang::Fr => "Ne pas confirmer et revenir à l'accueil du service",
                        Lang::En => "Do not confirm and go back to the service's home page",
                    }
                )
            ));
        }
        let body = format!("<h1>{title}</h1>{why}<p>{intro}</p>{buttons}{after}");
        let switch = self.switch_href(lang, "login", |q| journey.append_to(q));
        self.page(StatusCode::OK, lang, &title, &body, &switch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PagesConfig;

    fn pages() -> Pages {
        let mut c = PagesConfig::named("Mairie");
        c.other_login_url = Some("/login-classique".into());
        Pages::new(&c, "/.guichet", true)
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

    fn home() -> Journey {
        Journey {
            return_to: "/".into(),
            level: None,
        }
    }

    #[test]
    fn chooser_uses_the_official_franceconnect_button() {
        let r = pages().chooser(
            Lang::Fr,
            &[entry("FranceConnect", Flavour::FranceConnectV2)],
            &home(),
            false,
        );
        let b = body(r);
        assert!(b.contains(
            "<a class=\"fc\" href=\"/.guichet/login?provider=FranceConnect\">\
             <img src=\"/.guichet/assets/franceconnect.svg\" alt=\"\" width=\"40\" height=\"48\">\
             <span class=\"fc-login\">S’identifier avec</span> <span class=\"fc-brand\">FranceConnect</span></a>"
        ), "{b}");
        assert!(b.contains("href=\"https://franceconnect.gouv.fr/\""));
        assert!(b.contains("Qu’est-ce que FranceConnect\u{202f}?</a>"));
        assert!(b.contains("title=\"Qu’est-ce que FranceConnect\u{202f}? - nouvelle fenêtre\""));
        assert!(b.contains("Se connecter autrement"));
        assert!(b.contains("<h1>Se connecter</h1>"));
        // English: the design system's English button.
        let b = body(pages().chooser(
            Lang::En,
            &[entry("FranceConnect", Flavour::FranceConnectV2)],
            &home(),
            false,
        ));
        assert!(b.contains("<span class=\"fc-login\">Sign in with</span> <span class=\"fc-brand\">FranceConnect</span></a>"));
        assert!(
            b.contains("title=\"What is FranceConnect? - new window\">What is FranceConnect?</a>")
        );
        assert!(b.contains("Log in another way"));
    }

    #[test]
    fn every_flavour_has_its_button_franceconnect_first() {
        let level = Journey {
            return_to: "/".into(),
            level: Some(Level::Substantial),
        };
        let r = pages().chooser(
            Lang::Fr,
            &[
                entry("Compte agent", Flavour::Generic),
                entry("S'identifier avec MConnect <b>", Flavour::MConnect),
                entry("FC+", Flavour::FranceConnectPlus),
                entry("FC v1", Flavour::FranceConnectV1),
            ],
            &level,
            false,
        );
        let b = body(r);
        assert!(b.contains("<span class=\"fc-brand\">FranceConnect+</span></a>"));
        assert!(b.contains("href=\"https://franceconnect.gouv.fr/france-connect-plus\""));
        assert!(b.contains("Qu’est-ce que FranceConnect+\u{202f}?</a>"));
        assert!(b.contains("renforcer la sécurité"));
        assert!(b.contains("S&#39;identifier avec MConnect &lt;b&gt;</a>"));
        assert!(b.contains("Se connecter avec Compte agent"));
        // Plain words, no jargon, no "or higher".
        assert!(b.contains("demande un moyen de connexion plus sûr"), "{b}");
        assert!(!b.contains("garantie") && !b.contains("supérieur"));
        let fc = b.find("provider=FC+").unwrap();
        let sep = b.find("<p class=\"sep\">ou</p>").unwrap();
        let other = b.find("provider=Compte agent").unwrap();
        assert!(fc < sep && sep < other);
        assert!(b.contains("href=\"/login-classique\""));
    }

    #[test]
    fn a_step_up_says_the_citizen_is_logged_in_why_and_how_back() {
        let level = Journey {
            return_to: "/renforce/".into(),
            level: Some(Level::Substantial),
        };
        let b = body(pages().chooser(
            Lang::Fr,
            &[entry("FC+", Flavour::FranceConnectPlus)],
            &level,
            true,
        ));
        assert!(b.contains("<h1>Confirmez votre identité</h1>"), "{b}");
        assert!(b.contains("Vous êtes bien connecté"));
        assert!(b.contains("<a href=\"/\">Ne pas confirmer et revenir à l’accueil du service</a>"));
        assert!(!b.contains("<h1>Se connecter</h1>"));
        let b = body(pages().chooser(
            Lang::En,
            &[entry("FC+", Flavour::FranceConnectPlus)],
            &Journey {
                level: Some(Level::High),
                ..level
            },
            true,
        ));
        assert!(b.contains("You are logged in, but this page holds very sensitive information"));
    }
}
