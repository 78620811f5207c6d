//! STUB (replaced by the mirror branch).
#![allow(dead_code, unused)]
use super::remote::Remote;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use crate::store::Part;
pub const CONTENT_PREFIX: &str = "content/";
pub struct Index { pub holder: String, pub term: u64 }
pub struct Fetched { pub index: Index, pub etag: String, pub parts: Vec<Part> }
pub struct Restored { pub written: Vec<PathBuf>, pub kept_local: Vec<PathBuf> }
pub enum Pushed { Written { uploaded: usize, bytes: u64 }, Unchanged, Deposed }
pub struct Mirror;
impl Mirror {
    pub fn new(remote: Arc<Remote>, holder: &str, term: u64) -> Mirror { Mirror }
    pub fn adopt(&mut self, f: &Fetched) {}
    pub async fn push(&mut self, parts: &[Part]) -> Result<Pushed> { Ok(Pushed::Unchanged) }
}
pub async fn fetch(remote: &Remote) -> Result<Option<Fetched>> { Ok(None) }
pub fn content_parts(dir: &Path) -> Result<Vec<Part>> { Ok(vec![]) }
pub fn restore_content(dir: &Path, parts: &[Part]) -> Result<Restored> { Ok(Restored{written: vec![], kept_local: vec![]}) }
