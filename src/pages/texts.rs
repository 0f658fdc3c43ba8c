//! The words of the failure pages, French and English: what happened and what to do, in
//! plain language (no protocol terms). Every [`Failure`] has both languages
//! (`pages::tests::every_failure_has_both_languages_and_no_500`).
//!
//! guichet's own words are written here with plain spaces and apostrophes and set in type
//! when rendered ([`typo`]): `’` for every apostrophe, and in French a non-breaking space
//! before `:` and a narrow one before `?`, `!` and `;`, so the sign never starts a line.
//! Texts the service configures are shown exactly as written.

use super::{escape, Failure};
use crate::web::Lang;
use std::borrow::Cow;

/// No-break space (before `:` in French).
pub(super) const NBSP: char = '\u{a0}';
/// Narrow no-break space (before `?`, `!`, `;` in French).
pub(super) const NNBSP: char = '\u{202f}';

/// guichet's own text set in type for this language (see the module doc).
pub(super) fn typo(lang: Lang, s: &str) -> Cow<'_, str> {
    if !s.contains(['\'', ' ']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\'', _) => out.push('’'),
            (' ', Some(':')) if lang == Lang::Fr => out.push(NBSP),
            (' ', Some('?' | '!' | ';')) if lang == Lang::Fr => out.push(NNBSP),
            (c, _) => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// guichet's own text, set in type and escaped for HTML.
pub(super) fn say(lang: Lang, s: &str) -> String {
    escape(&typo(lang, s))
}

/// Title and explanation of a failure page.
pub(super) fn texts(failure: &Failure, lang: Lang) -> (&'static str, &'static str) {
    use Lang::*;
    match (failure, lang) {
        (Failure::InvalidRequest(_) | Failure::PathRefused, Fr) => (
            "Requête invalide",
            "L'adresse demandée n'est pas valide.",
        ),
        (Failure::InvalidRequest(_) | Failure::PathRefused, En) => {
            ("Invalid request", "The address you asked for is not valid.")
        }
        (Failure::NotFound, Fr) => ("Page introuvable", "Cette page n'existe pas."),
        (Failure::NotFound, En) => ("Page not found", "This page does not exist."),
        (Failure::UnknownProvider, Fr) => (
            "Moyen de connexion inconnu",
            "Le moyen de connexion demandé n'est pas proposé par ce service.",
        ),
        (Failure::UnknownProvider, En) => (
            "Unknown login method",
            "This service does not offer the login method you asked for.",
        ),
        (Failure::LoginExpired, Fr) => (
            "Connexion expirée",
            "Votre demande de connexion a expiré ou a déjà été utilisée. Veuillez recommencer.",
        ),
        (Failure::LoginExpired, En) => (
            "Login expired",
            "Your login request has expired or was already used. Please start again.",
        ),
        (Failure::StateMismatch, Fr) => (
            "Connexion refusée",
            "Cette connexion n'a pas été commencée depuis ce navigateur. Veuillez recommencer.",
        ),
        (Failure::StateMismatch, En) => (
            "Login refused",
            "This login was not started from this browser. Please start again.",
        ),
        (Failure::Cancelled, Fr) => (
            "Connexion annulée",
            "La connexion n'a pas abouti : vous l'avez annulée, ou votre identité n'a pas pu être confirmée. Vous pouvez réessayer, ou utiliser un autre moyen de connexion.",
        ),
        (Failure::Cancelled, En) => (
            "Login cancelled",
            "The login did not go through: you cancelled it, or your identity could not be confirmed. You can try again, or use another way to log in.",
        ),
        (Failure::LoginRequired(_), Fr) => (
            "Identification nécessaire",
            "Le fournisseur d'identité vous demande de vous identifier à nouveau. Veuillez recommencer la connexion.",
        ),
        (Failure::LoginRequired(_), En) => (
            "Please log in again",
            "The identity provider asks you to identify yourself again. Please start the login again.",
        ),
        (Failure::ProviderDown(_), Fr) => (
            "Service de connexion indisponible",
            "Le fournisseur d'identité rencontre un problème et ne peut pas vous connecter pour le moment. Veuillez réessayer dans quelques minutes.",
        ),
        (Failure::ProviderDown(_), En) => (
            "Login service unavailable",
            "The identity provider has a problem and cannot log you in right now. Please try again in a few minutes.",
        ),
        (Failure::LevelTooLow, Fr) => (
            "Niveau de sécurité insuffisant",
            "Le moyen d'identification que vous avez utilisé n'offre pas le niveau de sécurité demandé par cette page. Veuillez vous connecter avec un moyen plus sûr.",
        ),
        (Failure::LevelTooLow, En) => (
            "Security level too low",
            "The way you identified yourself does not offer the level of security this page requires. Please log in with a stronger method.",
        ),
        (Failure::Throttled { .. }, Fr) => (
            "Trop de tentatives",
            "Vous avez fait trop de tentatives de connexion en peu de temps. Par sécurité, veuillez patienter avant de réessayer.",
        ),
        (Failure::Throttled { .. }, En) => (
            "Too many attempts",
            "You made too many login attempts in a short time. For your security, please wait before trying again.",
        ),
        (Failure::ProviderError(_), Fr) => (
            "Erreur du fournisseur d'identité",
            "Le fournisseur d'identité n'a pas pu vous connecter. Veuillez réessayer plus tard.",
        ),
        (Failure::ProviderError(_), En) => (
            "Identity provider error",
            "The identity provider could not log you in. Please try again later.",
        ),
        (Failure::ProviderUnavailable, Fr) => (
            "Service de connexion indisponible",
            "Le fournisseur d'identité ne répond pas pour le moment. Veuillez réessayer dans quelques minutes.",
        ),
        (Failure::ProviderUnavailable, En) => (
            "Login service unavailable",
            "The identity provider is not answering right now. Please try again in a few minutes.",
        ),
        (Failure::Verification(_), Fr) => (
            "Connexion non vérifiée",
            "La réponse du fournisseur d'identité n'a pas pu être vérifiée. Par sécurité, la connexion est refusée.",
        ),
        (Failure::Verification(_), En) => (
            "Login not verified",
            "The identity provider's answer could not be verified. For your security, the login is refused.",
        ),
        (Failure::InvalidIdentity(_), Fr) => (
            "Données d'identité invalides",
            "Les données d'identité transmises ne sont pas dans un format accepté. La connexion est refusée.",
        ),
        (Failure::InvalidIdentity(_), En) => (
            "Invalid identity data",
            "The identity data received is not in an accepted format. The login is refused.",
        ),
        (Failure::IdentityNotActive, Fr) => (
            "Identité numérique inactive",
            "Votre identité numérique n'est pas active (suspendue ou désactivée) : elle ne permet pas de vous connecter à ce service. Rapprochez-vous de l'autorité qui l'a délivrée, ou utilisez un autre moyen de connexion.",
        ),
        (Failure::IdentityNotActive, En) => (
            "Digital identity not active",
            "Your digital identity is not active (suspended or deactivated), so it cannot be used to log in to this service. Contact the authority that issued it, or use another way to log in.",
        ),
        (Failure::LevelUnavailable, Fr) => (
            "Niveau de sécurité non disponible",
            "Cette page demande un niveau de garantie d'identité qu'aucun des moyens de connexion proposés par ce service ne permet d'atteindre.",
        ),
        (Failure::LevelUnavailable, En) => (
            "Security level not available",
            "This page requires a level of identity assurance that none of this service's login methods can provide.",
        ),
        (Failure::IdentityTooLarge, Fr) => (
            "Identité trop longue",
            "Les données d'identité transmises par le fournisseur dépassent la taille que ce service peut recevoir. La connexion est refusée ; si le problème persiste, contactez le service.",
        ),
        (Failure::IdentityTooLarge, En) => (
            "Identity too long",
            "The identity data sent by the provider is larger than this service can receive. The login is refused; if this persists, contact the service.",
        ),
        (Failure::AssertionUnavailable, Fr) => (
            "Service momentanément indisponible",
            "Le service ne peut pas transmettre votre identité pour le moment. Veuillez réessayer dans quelques instants.",
        ),
        (Failure::AssertionUnavailable, En) => (
            "Service temporarily unavailable",
            "The service cannot pass on your identity right now. Please try again in a moment.",
        ),
        (Failure::StoreUnavailable, Fr) => (
            "Service momentanément indisponible",
            "Le service ne peut pas vérifier votre session pour le moment. Veuillez réessayer dans quelques instants.",
        ),
        (Failure::StoreUnavailable, En) => (
            "Service temporarily unavailable",
            "The service cannot check your session right now. Please try again in a moment.",
        ),
        (Failure::UpstreamUnavailable, Fr) => (
            "Service momentanément indisponible",
            "L'application ne répond pas pour le moment. Veuillez réessayer dans quelques instants.",
        ),
        (Failure::UpstreamUnavailable, En) => (
            "Service temporarily unavailable",
            "The application is not answering right now. Please try again in a moment.",
        ),
        (Failure::UpstreamUnresolved, Fr) => (
            "Service momentanément indisponible",
            "L'application n'est pas joignable pour le moment. Veuillez réessayer dans quelques instants.",
        ),
        (Failure::UpstreamUnresolved, En) => (
            "Service temporarily unavailable",
            "The application cannot be reached right now. Please try again in a moment.",
        ),
        (Failure::Misdirected, Fr) => (
            "Adresse inconnue",
            "Ce service ne répond pas à l'adresse demandée. Vérifiez l'adresse du site.",
        ),
        (Failure::Misdirected, En) => (
            "Unknown address",
            "This service does not answer at the address you asked for. Check the site's address.",
        ),
        (Failure::EvidenceUnavailable, Fr) => (
            "Service momentanément indisponible",
            "Le service ne peut pas enregistrer votre connexion pour le moment ; par sécurité, elle n'a pas été ouverte. Veuillez réessayer dans quelques instants.",
        ),
        (Failure::EvidenceUnavailable, En) => (
            "Service temporarily unavailable",
            "The service cannot record your login right now; for your security, it was not opened. Please try again in a moment.",
        ),
        (Failure::HeadersTooLarge, Fr) => (
            "Requête trop volumineuse",
            "Votre navigateur a envoyé une requête trop volumineuse, souvent à cause de cookies trop nombreux ou trop longs. Effacez les cookies de ce site, puis réessayez.",
        ),
        (Failure::FormTooLarge, Fr) => (
            "Formulaire trop volumineux",
            "Votre session a pris fin avant l'envoi de ce formulaire, et il est trop volumineux pour être conservé pendant que vous vous reconnectez. Connectez-vous dans un nouvel onglet, puis revenez à la page précédente de cet onglet et envoyez de nouveau le formulaire.",
        ),
        (Failure::FormTooLarge, En) => (
            "Form too large to keep",
            "Your session ended before this form was sent, and it is too large to be kept while you log in again. Log in in a new tab, then go back to the previous page in this tab and send the form again.",
        ),
        (Failure::FormNotKept, Fr) => (
            "Formulaire non conservé",
            "Votre session a pris fin avant l'envoi de ce formulaire, et il n'a pas pu être conservé pendant que vous vous reconnectez. Connectez-vous dans un nouvel onglet, puis revenez à la page précédente de cet onglet et envoyez de nouveau le formulaire.",
        ),
        (Failure::FormNotKept, En) => (
            "Form not kept",
            "Your session ended before this form was sent, and it could not be kept while you log in again. Log in in a new tab, then go back to the previous page in this tab and send the form again.",
        ),
        (Failure::FormGone, Fr) => (
            "Formulaire déjà envoyé ou expiré",
            "Ce formulaire a déjà été envoyé, ou le délai pour l'envoyer après votre connexion est dépassé. Il n'a pas été envoyé une seconde fois. Si besoin, remplissez-le de nouveau.",
        ),
        (Failure::FormGone, En) => (
            "Form already sent or expired",
            "This form was already sent, or the time allowed to send it after you logged in has passed. It was not sent a second time. If needed, fill it in again.",
        ),
        (Failure::FormOtherCitizen, Fr) => (
            "Formulaire non envoyé",
            "Ce formulaire avait été rempli pendant la session d'une autre personne que celle qui vient de se connecter. Pour protéger ses données, il n'a pas été envoyé. Vous êtes connecté : vous pouvez recommencer votre démarche.",
        ),
        (Failure::FormOtherCitizen, En) => (
            "Form not sent",
            "This form was filled in during the session of someone other than the person who has just logged in. To protect their data, it was not sent. You are logged in: you can start your request again.",
        ),
        (Failure::HeadersTooLarge, En) => (
            "Request too large",
            "Your browser sent a request that is too large, often because of too many or too long cookies. Clear this site's cookies, then try again.",
        ),
    }
}
