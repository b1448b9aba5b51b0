//! The node key file, in go-ethereum's `nodekey` format: the 32-byte secret
//! key as 64 hex characters, with no `0x` prefix and no newline.
//!
//! Reading is lenient (surrounding white space and a `0x` prefix are
//! accepted) so that keys written by hand or by other tools load. Writing is
//! strict, so that go-ethereum can read the files we write.
//!
//! The functions block; they are meant for start-up, before the runtime is
//! busy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::identity::{IdentityError, NodeKey};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file, its directory or its temporary copy could not be read,
    /// written or created.
    #[error("key file {}: {source}", .path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file exists but does not hold a valid secret key.
    #[error("key file {} does not hold a valid node key: {source}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        #[source]
        source: IdentityError,
    },
}

impl KeyFileError {
    fn io(path: &Path, source: io::Error) -> Self {
        KeyFileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads the node key stored at `path`.
pub fn load(path: &Path) -> Result<NodeKey, KeyFileError> {
    let bytes = fs::read(path).map_err(|e| KeyFileError::io(path, e))?;
    let invalid = |source| KeyFileError::Invalid {
        path: path.to_owned(),
        source,
    };
    // Binary junk is bad contents, not an I/O failure.
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid(IdentityError::Hex))?;
    text.parse().map_err(invalid)
}

/// Writes `key` to `path`, replacing any file already there.
///
/// Missing parent directories are created. The key goes to a temporary file
/// in the same directory which is then renamed over `path`, so a crash leaves
/// either the old file or the complete new one, never a truncated key. On
/// Unix the file is readable by its owner only (mode `0600`).
pub fn save(path: &Path, key: &NodeKey) -> Result<(), KeyFileError> {
    let name = path.file_name().ok_or_else(|| {
        let error = io::Error::new(io::ErrorKind::InvalidInput, "path has no file name");
        KeyFileError::io(path, error)
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| KeyFileError::io(dir, e))?;

    // A random suffix lets concurrent writers, or the leftover of a crashed
    // one, coexist without clobbering each other's temporary file.
    let mut tmp_name = name.to_owned();
    tmp_name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);

    let written = write_new_private(&tmp, hex::encode(key.secret_bytes()).as_bytes())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        // Best effort: the error being reported matters more than the debris.
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::io(path, e));
    }
    sync_dir(dir);
    Ok(())
}

/// Reads the node key at `path`, or generates one and saves it there if no
/// file exists.
///
/// A file that exists but cannot be read or parsed is an error: replacing it
/// would silently give the node a new identity.
pub fn load_or_generate(path: &Path) -> Result<NodeKey, KeyFileError> {
    match load(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let key = NodeKey::random();
            save(path, &key)?;
            Ok(key)
        }
        loaded => loaded,
    }
}

/// Creates `path`, which must not exist, with owner-only permissions and
/// writes `contents` to it durably.
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    // Set at creation rather than with a later chmod, so the secret is never
    // readable by others, not even for a moment.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    // Without this the rename may reach the disk before the data, and a crash
    // would leave an empty key file after all.
    file.sync_all()
}

/// Makes the rename itself durable.
fn sync_dir(dir: &Path) {
    // Only possible on Unix, and only an improvement: the key is already
    // complete on disk, so a failure here is not worth failing the save for.
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

    fn key() -> NodeKey {
        KEY.parse().unwrap()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        save(&path, &key()).unwrap();
        // Exactly what go-ethereum writes: bare hex, no newline.
        assert_eq!(fs::read_to_string(&path).unwrap(), KEY);
        assert_eq!(load(&path).unwrap().secret_bytes(), key().secret_bytes());
        // No temporary file is left behind.
        assert_eq!(files_in(dir.path()), ["nodekey"]);
    }

    #[test]
    fn save_creates_parent_dirs_and_replaces_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("nodekey");
        save(&path, &NodeKey::random()).unwrap();
        save(&path, &key()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), KEY);
        assert_eq!(files_in(path.parent().unwrap()), ["nodekey"]);
    }

    #[test]
    fn load_or_generate_creates_then_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geth").join("nodekey");
        let created = load_or_generate(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, hex::encode(created.secret_bytes()));
        let reloaded = load_or_generate(&path).unwrap();
        assert_eq!(reloaded.secret_bytes(), created.secret_bytes());
        assert_eq!(reloaded.id(), created.id());
    }

    #[test]
    fn invalid_file_is_an_error_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        let zero_key = "00".repeat(32);
        let cases: [(&[u8], IdentityError); 4] = [
            (
                b"not a key\n",
                IdentityError::HexLength {
                    expected: 64,
                    got: 9,
                },
            ),
            (
                &KEY.as_bytes()[..62],
                IdentityError::HexLength {
                    expected: 64,
                    got: 62,
                },
            ),
            (zero_key.as_bytes(), IdentityError::InvalidSecretKey),
            (b"\xff\xfe", IdentityError::Hex),
        ];
        for (contents, expected) in cases {
            fs::write(&path, contents).unwrap();
            for result in [load(&path), load_or_generate(&path)] {
                match result {
                    Err(KeyFileError::Invalid { path: p, source }) => {
                        assert_eq!(p, path);
                        assert_eq!(source, expected);
                    }
                    other => panic!("expected Invalid, got {other:?}"),
                }
            }
            assert_eq!(fs::read(&path).unwrap(), contents);
        }
    }

    #[test]
    fn missing_file_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        match load(&path) {
            Err(KeyFileError::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains(&*path.to_string_lossy()), "{error}");
    }

    #[test]
    fn prefixed_key_with_newline_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        fs::write(&path, format!("0x{KEY}\n")).unwrap();
        assert_eq!(load(&path).unwrap().secret_bytes(), key().secret_bytes());
        fs::write(&path, format!("  {}\r\n", KEY.to_uppercase())).unwrap();
        assert_eq!(load(&path).unwrap().secret_bytes(), key().secret_bytes());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        // A pre-existing world-readable file must not pass its mode on.
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, &key()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let generated = dir.path().join("generated");
        load_or_generate(&generated).unwrap();
        let mode = fs::metadata(&generated).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn path_without_file_name_is_refused() {
        assert!(matches!(
            save(Path::new("/"), &key()),
            Err(KeyFileError::Io { .. })
        ));
    }
}
