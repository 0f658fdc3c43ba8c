//! Secrets (client secrets, keys) come from the environment or a file, never from the TOML
//! itself, and never print: `Debug` and `Display` show only where they came from.

use std::fmt;

/// A loaded secret value. Its contents are only reachable through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret {
    value: String,
    source: String,
}

/// Why a secret reference could not be loaded (the message never contains the value).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("must be \"env:VARIABLE\" or \"file:/path\", not the secret itself")]
    Literal,
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{0} is empty")]
    Empty(String),
}

impl Secret {
    /// Resolves `env:VAR` or `file:PATH`. A trailing newline in a file is dropped (Kubernetes
    /// Secrets mounted from `kubectl create secret --from-file` often have one).
    pub fn load(reference: &str) -> Result<Secret, SecretError> {
        let (value, source) = if let Some(var) = reference.strip_prefix("env:") {
            let value = std::env::var(var).map_err(|_| SecretError::MissingEnv(var.into()))?;
            (value, format!("env:{var}"))
        } else if let Some(path) = reference.strip_prefix("file:") {
            let value = std::fs::read_to_string(path).map_err(|e| SecretError::Unreadable {
                path: path.into(),
                reason: e.kind().to_string(),
            })?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value).to_string();
            (value, format!("file:{path}"))
        } else {
            return Err(SecretError::Literal);
        };
        if value.is_empty() {
            return Err(SecretError::Empty(source));
        }
        Ok(Secret { value, source })
    }

    /// A secret held in memory only (the demo's generated values, tests).
    pub fn inline(value: impl Into<String>, label: &str) -> Secret {
        Secret {
            value: value.into(),
            source: label.into(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the secret came from, safe to print.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {}>", self.source)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {}>", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_is_refused() {
        assert_eq!(Secret::load("hunter2").unwrap_err(), SecretError::Literal);
    }

    #[test]
    fn file_secret_drops_trailing_newline_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let s = Secret::load(&format!("file:{}", path.display())).unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        assert!(!format!("{s:?} {s}").contains("s3cr3t"));
    }

    #[test]
    fn missing_file_and_env_are_named() {
        let e = Secret::load("file:/nonexistent/guichet-secret").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/guichet-secret"));
        let e = Secret::load("env:GUICHET_TEST_SURELY_UNSET").unwrap_err();
        assert!(e.to_string().contains("GUICHET_TEST_SURELY_UNSET"));
    }
}
