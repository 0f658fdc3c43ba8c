//! Test certificates made with the `openssl` command (installed by `scripts/deps.sh`): a
//! private CA and certificates it signs for `localhost` and `127.0.0.1`. The tests of TLS
//! (guichet's listener, the Redis store) use them; nothing here runs in production.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A private certificate authority in a directory.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
    name: String,
    /// The CA certificate (PEM), for clients to trust.
    pub cert: PathBuf,
}

/// A certificate chain file and its private key file.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the openssl command is needed ({e}): run scripts/deps.sh"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

const EC: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

impl TestCa {
    /// A new CA (`NAME.pem`, `NAME.key` in `dir`), valid two days.
    pub fn new(dir: &Path, name: &str) -> io::Result<TestCa> {
        let cert = format!("{name}.pem");
        let key = format!("{name}.key");
        let subject = format!("/CN=guichet test CA {name}");
        let mut args = vec!["req", "-x509"];
        args.extend(EC);
        args.extend([
            "-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subject,
        ]);
        openssl(dir, &args)?;
        Ok(TestCa {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            cert: dir.join(cert),
        })
    }

    /// A certificate for `localhost` and `127.0.0.1` signed by this CA (`NAME.pem`,
    /// `NAME.key`); the certificate file holds the leaf then the CA (a chain).
    pub fn issue(&self, name: &str) -> io::Result<CertPair> {
        let csr = format!("{name}.csr");
        let key = format!("{name}.key");
        let leaf = format!("{name}.leaf.pem");
        let mut args = vec!["req"];
        args.extend(EC);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
        openssl(&self.dir, &args)?;
        let ext = format!("{name}.ext");
        std::fs::write(
            self.dir.join(&ext),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )?;
        let ca_cert = format!("{}.pem", self.name);
        let ca_key = format!("{}.key", self.name);
        let serial = format!("{}.srl", self.name);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAserial",
                &serial,
                "-CAcreateserial",
                "-out",
                &leaf,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        )?;
        let mut chain = std::fs::read(self.dir.join(&leaf))?;
        chain.extend(std::fs::read(&self.cert)?);
        let cert = self.dir.join(format!("{name}.pem"));
        std::fs::write(&cert, chain)?;
        Ok(CertPair {
            cert,
            key: self.dir.join(key),
        })
    }
}
