//! Email subscriptions through the inbox bucket: the signed forms against a real S3 server
//! (s3s, which checks SigV4 POST policies), and a browser with JavaScript off.

mod flow;
mod forms;

use crate::common::{TestSite, s3};
use std::collections::HashMap;

/// The golden site with subscriptions on, posting to `server`'s inbox, at `base_url`.
pub fn site_with_inbox(server: &s3::S3Server, base_url: &str) -> TestSite {
    let site = TestSite::fixture("basic");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    let config = config.replace(
        "base_url: https://status.acme.test/",
        &format!("base_url: {base_url}"),
    );
    let endpoint = server.endpoint();
    let (inbox, key, secret, post_key, post_secret) = (
        s3::INBOX,
        s3::KEY,
        s3::SECRET,
        s3::POST_KEY,
        s3::POST_SECRET,
    );
    site.write(
        "config.yaml",
        &format!(
            "{config}\nsubscriptions:\n  inbox:\n    bucket: {inbox}\n    endpoint: {endpoint}\n    path_style: true\n    region: us-east-1\n    access_key_id: {key}\n    secret_access_key: {secret}\n  post_access_key_id: {post_key}\n  post_secret_access_key: {post_secret}\n  smtp_host: 127.0.0.1\n  from: status@acme.test\n"
        ),
    );
    site
}

/// A form of a page as a browser would post it: its action, and every field in document order
/// (hidden fields, `key` typed as `address` when the page asks for one, checked radios).
pub struct Posted {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// The `n`th form of `html`.
pub fn form_of(html: &str, n: usize, address: Option<&str>) -> Posted {
    let dom = scraper::Html::parse_document(html);
    let form_sel = scraper::Selector::parse("form").unwrap();
    let input = scraper::Selector::parse("input").unwrap();
    let form = dom.select(&form_sel).nth(n).expect("the form");
    assert_eq!(form.value().attr("method"), Some("post"));
    assert_eq!(form.value().attr("enctype"), Some("multipart/form-data"));
    let mut fields = Vec::new();
    for i in form.select(&input) {
        let e = i.value();
        let name = e.attr("name").unwrap().to_string();
        match e.attr("type") {
            Some("radio") if e.attr("checked").is_none() => continue,
            Some("email") => fields.push((name, address.expect("an address").to_string())),
            _ => fields.push((name, e.attr("value").unwrap_or_default().to_string())),
        }
    }
    Posted {
        action: form.value().attr("action").unwrap().to_string(),
        fields,
    }
}

impl Posted {
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(f) => f.1 = value.to_string(),
            None => panic!("no field {name}"),
        }
    }

    /// Add a field just before `file` (S3 ignores what comes after it).
    pub fn insert(&mut self, name: &str, value: &str) {
        let at = self.fields.len() - 1;
        self.fields
            .insert(at, (name.to_string(), value.to_string()));
    }
}

/// The answer to a multipart POST: status and `Location`.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// POST `fields` as `multipart/form-data` to `url` (an `http://host:port/path`), over a plain
/// socket: the bytes are what a browser sends, nothing is added.
pub fn post(url: &str, fields: &[(String, String)]) -> Answer {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let boundary = "----pharos-form-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_string);
    Answer {
        status,
        location,
        body: body.to_string(),
    }
}

/// An inbox object as the daemon reads it (GetObject with the daemon's key): body and
/// metadata, or `None` when there is no such object.
pub fn inbox_get(server: &s3::S3Server, key: &str) -> Option<(Vec<u8>, HashMap<String, String>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let creds = aws_sdk_s3::config::Credentials::new(s3::KEY, s3::SECRET, None, None, "test");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        pharos::tls_provider();
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(server.endpoint())
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        let out = client
            .get_object()
            .bucket(s3::INBOX)
            .key(key)
            .send()
            .await
            .ok()?;
        let meta = out.metadata().cloned().unwrap_or_default();
        let body = out.body.collect().await.unwrap().into_bytes().to_vec();
        Some((body, meta))
    })
}

/// Every key in the inbox (from the server's folder).
pub fn inbox_keys(server: &s3::S3Server) -> Vec<String> {
    server.keys_in(s3::INBOX)
}
