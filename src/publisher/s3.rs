//! An S3 or S3-compatible bucket, through aws-sdk-s3 with rustls (ring) and explicit timeouts.
//!
//! Custom endpoints default to checksums "when required": several S3-compatible stores reject
//! the SDK's default streamed-checksum uploads (`aws-chunked` with a CRC trailer).

use crate::config::{ChecksumMode, Target};
use anyhow::{Context, Result};
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;
use std::time::Duration;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub etag: String,
    pub modified_ms: i64,
    pub size: i64,
}

#[derive(Clone)]
pub struct S3Target {
    pub name: String,
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    pub asset_grace: Duration,
    pub concurrency: usize,
    /// The credentials, taken out of what the store answers (an error may quote the key id).
    redactor: crate::redact::Redactor,
}

/// The error and its causes, on one line (the SDK's top-level message is often just "service error").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

impl S3Target {
    pub async fn new(t: &Target) -> Result<S3Target> {
        crate::tls_provider();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(t.connect_timeout.0)
            .operation_attempt_timeout(t.attempt_timeout.0)
            .operation_timeout(t.operation_timeout.0)
            .build();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
        if let Some(region) = &t.region {
            loader = loader.region(Region::new(region.to_string()));
        } else if t.endpoint.is_some() {
            // Most S3-compatible stores ignore the region but the signature needs one.
            loader = loader.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &t.endpoint {
            loader = loader.endpoint_url(endpoint.as_str());
        }
        if let (Some(id), Some(secret)) = (&t.access_key_id, &t.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id.expose(),
                secret.expose(),
                None,
                None,
                "pharos-config",
            ));
        }
        let shared = loader.load().await;
        let checksum = t.checksum.unwrap_or(if t.endpoint.is_some() {
            ChecksumMode::WhenRequired
        } else {
            ChecksumMode::WhenSupported
        });
        let (req, resp) = match checksum {
            ChecksumMode::WhenRequired => (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            ),
            ChecksumMode::WhenSupported => (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            ),
        };
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(t.path_style.unwrap_or(t.endpoint.is_some()))
            .request_checksum_calculation(req)
            .response_checksum_validation(resp)
            .build();
        Ok(S3Target {
            name: t.name.to_string(),
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: t.bucket.to_string(),
            prefix: t
                .prefix
                .as_deref()
                .map(|p| p.trim_matches('/').to_string())
                .unwrap_or_default(),
            asset_grace: t.asset_grace.0,
            concurrency: t.concurrency.max(1),
            redactor: crate::redact::Redactor::new(
                [&t.access_key_id, &t.secret_access_key]
                    .into_iter()
                    .flatten()
                    .map(|s| s.expose()),
            ),
        })
    }

    fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    pub async fn put(
        &self,
        path: &str,
        bytes: std::sync::Arc<[u8]>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .content_type(content_type)
            .cache_control(cache_control)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))?;
        Ok(())
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))?;
        Ok(())
    }

    /// Every object under the prefix: path (without the prefix) -> ETag.
    pub async fn list(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))
                .context("cannot list the bucket")?;
            for o in page.contents() {
                if let (Some(key), Some(etag)) = (o.key(), o.e_tag()) {
                    out.insert(
                        key.strip_prefix(&prefix).unwrap_or(key).to_string(),
                        etag.to_string(),
                    );
                }
            }
        }
        Ok(out)
    }

    /// HEAD one object: (content type, cache control, ETag), or None if it does not exist.
    pub async fn head(&self, path: &str) -> Result<Option<(String, String, String)>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
        {
            Ok(h) => Ok(Some((
                h.content_type().unwrap_or_default().to_string(),
                h.cache_control().unwrap_or_default().to_string(),
                h.e_tag().unwrap_or_default().to_string(),
            ))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(anyhow::anyhow!(self.redactor.apply(&chain(&e)))),
        }
    }

    /// Up to `limit` objects under the prefix and `under`, in key order after `start_after`:
    /// (path, ETag, last modified in milliseconds, size). Reads pages of at most 1,000 keys.
    pub async fn list_some(
        &self,
        under: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let base = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let prefix = format!("{base}{under}");
        let mut token: Option<String> = None;
        let start_after = start_after.map(|k| format!("{base}{k}"));
        while out.len() < limit {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .max_keys((limit - out.len()).min(1000) as i32)
                .set_start_after(start_after.clone())
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))
                .context("cannot list the bucket")?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.push(Listed {
                        path: key.strip_prefix(&base).unwrap_or(key).to_string(),
                        etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                        modified_ms: o.last_modified().map_or(0, |t| {
                            t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)
                        }),
                        size: o.size().unwrap_or(0),
                    });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// GET a small object: its bytes (read only up to `max`: `None` when it is larger) and
    /// its user metadata; `Ok(None)` when it is gone.
    pub async fn get_small(
        &self,
        path: &str,
        max: usize,
    ) -> Result<Option<(Option<Vec<u8>>, HashMap<String, String>)>> {
        let Some(got) = self.get(path).await? else {
            return Ok(None);
        };
        let metadata = got.metadata().cloned().unwrap_or_default();
        if got.content_length().unwrap_or(0) > max as i64 {
            return Ok(Some((None, metadata)));
        }
        let mut body = got.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > max {
                return Ok(Some((None, metadata)));
            }
        }
        Ok(Some((Some(bytes), metadata)))
    }

    /// PUT `bytes` at `path` on a condition: `If-None-Match: *` (create; `etag` `None`) or
    /// `If-Match: etag` (replace). `Ok(Some(new ETag))` when written, `Ok(None)` when the
    /// condition failed (412, or 409 for a concurrent conditional write).
    pub async fn put_if(
        &self,
        path: &str,
        bytes: Vec<u8>,
        etag: Option<&str>,
    ) -> Result<Option<String>> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        req = match etag {
            None => req.if_none_match("*"),
            Some(e) => req.if_match(e),
        };
        match req.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the condition failed; 409: a concurrent conditional write won; 404 (AWS,
                // If-Match on a key that is gone): what we read is not there any more.
                if matches!(status, Some(412 | 409)) || (etag.is_some() && status == Some(404)) {
                    Ok(None)
                } else {
                    Err(anyhow::anyhow!(self.redactor.apply(&chain(&e))))
                }
            }
        }
    }

    /// GET an object with its ETag; `Ok(None)` when there is none.
    pub async fn get_tagged(&self, path: &str) -> Result<Option<(Vec<u8>, String)>> {
        let Some(o) = self.get(path).await? else {
            return Ok(None);
        };
        let etag = o.e_tag().unwrap_or_default().to_string();
        let bytes = o
            .body
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!(self.redactor.apply(&chain(&e))))?
            .into_bytes()
            .to_vec();
        Ok(Some((bytes, etag)))
    }

    /// GET one object; `Ok(None)` when there is none (errors with the credentials taken out).
    async fn get(
        &self,
        path: &str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(anyhow::anyhow!(self.redactor.apply(&chain(&e)))),
        }
    }
}
