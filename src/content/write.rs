//! The one routine that writes content files, for the CLI and the daemon's automatic incidents:
//! atomic (a temp file renamed or linked in the same folder) and careful (an update refuses to
//! replace a file that changed after it was read, so nobody's edit is silently overwritten).

use crate::model::{ComponentStatus, IncidentStatus};
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Why a content file was not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone saved the file while it was being updated: nothing was overwritten, and trying
    /// again on the new text is safe.
    #[error(
        "{} changed while it was being updated; nothing was overwritten, try again",
        .0.display()
    )]
    Changed(PathBuf),
    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The edit itself refused (the new text does not parse, say).
    #[error(transparent)]
    Edit(anyhow::Error),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("content");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_temp(path: &Path, text: &str) -> Result<PathBuf, Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let tmp = temp_path(path);
    std::fs::write(&tmp, text).map_err(io("write", &tmp))?;
    Ok(tmp)
}

/// Create `path` with `text`; fails if it already exists.
pub fn create(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = write_temp(path, text)?;
    // A hard link fails if the target exists: no check-then-write race.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(io("create", path))
}

/// An exclusive lock on the folder of `path` (a hidden `.pharos.lock` file in it, which the
/// content scan skips), held until dropped: Pharos processes editing files of one folder take
/// turns, so two CLI commands (or the CLI and the daemon) never lose each other's update.
struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    fn take(path: &Path) -> Result<FolderLock, Error> {
        use std::os::fd::AsRawFd;
        let dir = path.parent().unwrap_or(Path::new("."));
        let lock = dir.join(".pharos.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(io("open", &lock))?;
        // SAFETY: flock on a file descriptor we own; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io("lock", &lock)(std::io::Error::last_os_error()));
        }
        Ok(FolderLock { _file: file })
    }
}

/// Replace `path` with `f(current text)`, unless the file changed while we worked (an editor
/// saving it: [`Error::Changed`]). Other Pharos processes wait for their turn (see
/// [`FolderLock`]).
pub fn update(path: &Path, f: impl FnOnce(&str) -> anyhow::Result<String>) -> Result<(), Error> {
    let _lock = FolderLock::take(path)?;
    let before = std::fs::read_to_string(path).map_err(io("read", path))?;
    let after = f(&before).map_err(Error::Edit)?;
    let tmp = write_temp(path, &after)?;
    let now = std::fs::read_to_string(path).unwrap_or_default();
    if now != before {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Changed(path.to_path_buf()));
    }
    std::fs::rename(&tmp, path).map_err(io("replace", path))
}

/// A YAML scalar holding `s` exactly (JSON strings are YAML).
pub fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The heading time format: UTC with seconds, so updates never tie.
pub fn heading_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A new incident file, as monitors open them.
pub fn incident_text(
    title: &str,
    component: &str,
    effect: ComponentStatus,
    automatic: bool,
    at: DateTime<Utc>,
    status: IncidentStatus,
    message: &str,
) -> String {
    format!(
        "---\ntitle: {}\ncomponents:\n  {component}: {effect}\n{}---\n## {} · {status}\n{}\n",
        yaml_string(title),
        if automatic { "automatic: true\n" } else { "" },
        heading_time(at),
        message.trim()
    )
}

/// The file of an incident as the store holds it (to write back a file deleted while the
/// incident was open): front matter and every update, newest first.
pub fn incident_file(i: &crate::model::Incident) -> String {
    let mut out = format!("---\ntitle: {}\n", yaml_string(&i.title));
    if i.explicit_impact {
        out.push_str(&format!("impact: {}\n", i.impact.as_str()));
    }
    if !i.components.is_empty() {
        out.push_str("components:\n");
        for (c, s) in &i.components {
            out.push_str(&format!("  {c}: {s}\n"));
        }
    }
    if i.automatic {
        out.push_str("automatic: true\n");
    }
    out.push_str("---\n");
    for (n, u) in i.updates.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "## {} · {}\n{}\n",
            heading_time(u.at),
            u.status.as_str(),
            u.body_md.trim()
        ));
    }
    out
}

/// Add an update as the newest section, right below the front matter.
pub fn add_update(
    text: &str,
    at: DateTime<Utc>,
    status: &str,
    message: &str,
) -> anyhow::Result<String> {
    let body_start = text
        .strip_prefix("---")
        .and_then(|rest| rest.find("\n---").map(|i| 3 + i + 4))
        .context("the file has no front matter")?;
    let (head, body) = text.split_at(body_start);
    let head = head.trim_end_matches('\n');
    Ok(format!(
        "{head}\n## {} · {status}\n{}\n\n{}",
        heading_time(at),
        message.trim(),
        body.trim_start_matches('\n')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_to_overwrite_and_update_adds_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("incidents/x.md");
        let at = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = incident_text(
            "API: \"down\"",
            "api",
            ComponentStatus::MajorOutage,
            true,
            at,
            IncidentStatus::Investigating,
            "Looking.",
        );
        create(&p, &text).unwrap();
        assert!(create(&p, "other").is_err(), "never overwrites");
        update(&p, |t| {
            add_update(t, at + chrono::Duration::minutes(5), "resolved", "Fixed.")
        })
        .unwrap();
        let got = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            got,
            "---\ntitle: \"API: \\\"down\\\"\"\ncomponents:\n  api: major_outage\nautomatic: true\n---\n\
             ## 2026-11-26 12:05:00 UTC · resolved\nFixed.\n\n## 2026-11-26 12:00:00 UTC · investigating\nLooking.\n"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("incidents"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temp files left: {names:?}");
        assert!(
            names.contains(&".pharos.lock".to_string()),
            "the lock file stays"
        );
    }

    #[test]
    fn update_refuses_when_the_file_changed_underneath() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.md");
        std::fs::write(&p, "---\ntitle: a\n---\n").unwrap();
        let err = update(&p, |t| {
            std::fs::write(&p, "---\ntitle: edited by a person\n---\n").unwrap();
            Ok(t.to_string() + "mine")
        })
        .unwrap_err();
        assert!(matches!(err, Error::Changed(_)), "{err}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "---\ntitle: edited by a person\n---\n"
        );
    }
}
