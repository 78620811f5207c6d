//! One daemon per site: `pharos run` holds an exclusive lock on a file beside the store
//! (`pharos.db.lock`, holding its pid) for as long as it runs. Two daemons would share streaks
//! (halving every threshold) and fight over the output folder.

use anyhow::{Result, anyhow};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while the daemon runs; the lock goes with the process, however it ends.
pub struct DaemonLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of the store at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Take the site's daemon lock, or say which process holds it.
pub fn lock(db: &Path) -> Result<DaemonLock> {
    let path = lock_path(db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow!("cannot open the daemon lock {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("pid {pid}"),
            };
            return Err(anyhow!(
                "another `pharos run` ({holder}) is already running on this site: it holds {}. One daemon per site: stop that one first (two would share the monitors' streaks and fight over the output folder)",
                path.display()
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(anyhow!("cannot lock {}: {e}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(DaemonLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pharos.db");
        let first = super::lock(&db).unwrap();
        assert_eq!(first.path, dir.path().join("pharos.db.lock"));
        let err = super::lock(&db)
            .err()
            .expect("second lock refused")
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        super::lock(&db).expect("free again once the first is dropped");
    }
}
