//! The cluster store: signed objects under `cluster.store`'s bucket and prefix, created with
//! `If-None-Match: *` and replaced with `If-Match`.

use super::envelope::{self, Refused};
use crate::config::Cluster;
use crate::publisher::s3::S3Target;
use anyhow::Result;
use serde::{Serialize, de::DeserializeOwned};

pub struct Remote {
    target: S3Target,
    secret: String,
}

/// An object read back: its body (or why it was refused) and its ETag.
pub struct Read<T> {
    pub body: Result<T, Refused>,
    pub etag: String,
}

impl Remote {
    pub async fn new(c: &Cluster) -> Result<Remote> {
        Ok(Remote {
            target: S3Target::new(&c.store.target("cluster")).await?,
            secret: c.secret.expose().to_string(),
        })
    }

    /// The object at `path`, if any.
    pub async fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        kind: &str,
    ) -> Result<Option<Read<T>>> {
        Ok(self
            .target
            .get_tagged(path)
            .await?
            .map(|(bytes, etag)| Read {
                body: envelope::open(&self.secret, kind, &bytes),
                etag,
            }))
    }

    /// Create `path` if nobody has: its ETag, or `None` when it exists.
    pub async fn create<T: Serialize>(
        &self,
        path: &str,
        kind: &str,
        body: &T,
    ) -> Result<Option<String>> {
        self.target
            .put_if(path, envelope::seal(&self.secret, kind, body), None)
            .await
    }

    /// Replace `path` if it is still `etag`: the new ETag, or `None` when it changed.
    pub async fn replace<T: Serialize>(
        &self,
        path: &str,
        kind: &str,
        body: &T,
        etag: &str,
    ) -> Result<Option<String>> {
        self.target
            .put_if(path, envelope::seal(&self.secret, kind, body), Some(etag))
            .await
    }

    /// PUT raw bytes at `path` (no condition): content-addressed parts, results objects.
    pub async fn put_raw(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.target
            .put(path, bytes.into(), "application/octet-stream", "no-store")
            .await
    }

    /// The raw bytes at `path`, if any, with the ETag.
    pub async fn get_raw(&self, path: &str) -> Result<Option<(Vec<u8>, String)>> {
        self.target.get_tagged(path).await
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.target.delete(path).await
    }

    /// Paths (without the store's prefix) under `under`, in key order.
    pub async fn list(&self, under: &str) -> Result<Vec<String>> {
        Ok(self
            .target
            .list_some(under, None, usize::MAX)
            .await?
            .into_iter()
            .map(|l| l.path)
            .collect())
    }

    /// The secret that signs (for objects sealed off the async workers).
    pub fn secret(&self) -> &str {
        &self.secret
    }
}
