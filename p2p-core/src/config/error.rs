//! What loading or checking a configuration fails with.

use std::io;
use std::path::PathBuf;

use crate::identity::IdentityError;
use crate::keyfile::KeyFileError;

/// Why a configuration could not be built, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML text is malformed, has an unknown key, or has a value of the
    /// wrong type or form (a bad enode URL, CIDR network, duration, ...).
    #[error("invalid configuration{}: {message}", location(.file, .line, .column))]
    Toml {
        /// The file the text came from, if it came from a file.
        file: Option<PathBuf>,
        /// The 1-based line of the offending text, when known.
        line: Option<usize>,
        /// The 1-based column (in characters) of the offending text, when known.
        column: Option<usize>,
        /// What is wrong, as the TOML parser describes it; it names the
        /// offending key or value.
        message: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Both `private_key` and `private_key_file` are set.
    #[error("both private_key and private_key_file are set; use only one")]
    ConflictingKeys,
    /// `private_key` is not a valid secret key. The key text itself is never
    /// included in the error.
    #[error("private_key is not a valid secp256k1 secret key: {0}")]
    InvalidKey(#[source] IdentityError),
    /// The file named by `private_key_file` could not be read or does not
    /// hold a valid key.
    #[error("private_key_file: {0}")]
    KeyFile(#[from] KeyFileError),
    /// A timeout or interval is zero.
    #[error("{field} must be greater than zero")]
    ZeroDuration {
        /// The setting's name, as spelt in TOML.
        field: &'static str,
    },
    /// No private key is configured; the server cannot start without one.
    #[error(
        "no private key configured: set it with ConfigBuilder::private_key, \
         or private_key / private_key_file in the configuration file"
    )]
    MissingKey,
}

/// Formats the " in <file> at line L, column C" part of a TOML error.
fn location(file: &Option<PathBuf>, line: &Option<usize>, column: &Option<usize>) -> String {
    let mut out = String::new();
    if let Some(file) = file {
        out.push_str(&format!(" in {}", file.display()));
    }
    match (line, column) {
        (Some(line), Some(column)) => out.push_str(&format!(" at line {line}, column {column}")),
        (Some(line), None) => out.push_str(&format!(" at line {line}")),
        _ => {}
    }
    out
}
