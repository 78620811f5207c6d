//! An S3-compatible server (s3s-fs) in the test process, on loopback, with SigV4 auth: the
//! publisher talks plain S3 over HTTP to it, exactly as to AWS. It can be stopped and restarted
//! on the same port to play an outage.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

pub const KEY: &str = "pharos-test-key";
pub const SECRET: &str = "pharos-test-secret";
pub const BUCKET: &str = "status-site";
/// The subscription inbox of [`S3Server::with_inbox`], and the key that may post to it.
pub const INBOX: &str = "status-inbox";
pub const POST_KEY: &str = "pharos-post-key";
pub const POST_SECRET: &str = "pharos-post-secret";

pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    inbox: bool,
    /// Requests served, by "METHOD key" with the key cut after its first four path segments
    /// (what the cluster bench counts per role).
    pub requests: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>,
}

impl S3Server {
    pub fn start() -> S3Server {
        S3Server::start_as(false)
    }

    /// With a second bucket, the subscription inbox ([`INBOX`]), and the posting key
    /// ([`POST_KEY`]) beside the publishing one. A form's `x-amz-date` is its signing day at
    /// 00:00 (its page is the same all day): AWS judges a POST by the policy's expiration,
    /// s3s also by a 15-minute clock skew, so this server allows five days of it (a form
    /// expires after three days: the expiry test must meet the expiry, not the skew).
    pub fn with_inbox() -> S3Server {
        S3Server::start_as(true)
    }

    fn start_as(inbox: bool) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        if inbox {
            std::fs::create_dir_all(root.path().join(INBOX)).unwrap();
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = S3Server {
            addr,
            root,
            stop: None,
            thread: None,
            inbox,
            requests: Default::default(),
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let root: PathBuf = self.root.path().to_path_buf();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let inbox = self.inbox;
        let requests = self.requests.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let fs = s3s_fs::FileSystem::new(root).unwrap();
                let mut b = s3s::service::S3ServiceBuilder::new(fs);
                let mut auth = s3s::auth::SimpleAuth::from_single(KEY, SECRET);
                if inbox {
                    auth.register(POST_KEY.into(), POST_SECRET.into());
                    // S3Config is non-exhaustive: change the default's one field.
                    let mut config = s3s::config::S3Config::default();
                    config.presigned_url_max_skew_time_secs = 5 * 86_400;
                    b.set_config(std::sync::Arc::new(s3s::config::StaticConfigProvider::new(
                        std::sync::Arc::new(config),
                    )));
                }
                b.set_auth(auth);
                let s3 = b.build();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    use hyper::service::Service;
                    let path = req.uri().path().trim_start_matches('/');
                    let mut key: Vec<&str> = path.splitn(5, '/').collect();
                    key.truncate(4);
                    let list = req.uri().query().is_some_and(|q| q.contains("list-type"));
                    let method = if list { "LIST" } else { req.method().as_str() };
                    *requests
                        .lock()
                        .unwrap()
                        .entry(format!("{method} {}", key.join("/")))
                        .or_default() += 1;
                    let s3 = s3.clone();
                    async move { Service::call(&s3, req).await }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let mut conns = Vec::new();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((socket, _)) = accepted else { continue };
                            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone()).into_owned();
                            conns.push(tokio::spawn(async move { let _ = conn.await; }));
                        }
                    }
                }
                // An outage: drop the listener and every open connection.
                for c in conns {
                    c.abort();
                }
            });
        });
        self.stop = Some(tx);
        self.thread = Some(thread);
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop answering: connections are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let listener = std::net::TcpListener::bind(self.addr).unwrap();
        self.serve(listener);
    }

    /// The bytes of an object, read from the server's folder.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(BUCKET).join(key)).ok()
    }

    /// The bytes of an inbox object.
    pub fn inbox_object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(INBOX).join(key)).ok()
    }

    pub fn remove(&self, key: &str) {
        std::fs::remove_file(self.root.path().join(BUCKET).join(key)).unwrap();
    }

    /// Change an object behind the publisher's back (an admin's hand edit in the console).
    pub fn overwrite(&self, key: &str, bytes: &str) {
        std::fs::write(self.root.path().join(BUCKET).join(key), bytes).unwrap();
    }

    /// Every object key in the bucket.
    pub fn keys(&self) -> Vec<String> {
        self.keys_in(BUCKET)
    }

    /// Every object key in `bucket` (from the server's folder).
    pub fn keys_in(&self, bucket: &str) -> Vec<String> {
        let base = self.root.path().join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    stack.push(p);
                } else if !name.starts_with(".bucket-") {
                    out.push(
                        p.strip_prefix(&base)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `publish.targets` entry for this server.
pub fn target_yaml(endpoint: &str, extra: &str) -> String {
    format!(
        "publish:\n  targets:\n    - name: test\n      kind: s3\n      bucket: {BUCKET}\n      endpoint: {endpoint}\n      path_style: true\n      region: us-east-1\n      access_key_id: {KEY}\n      secret_access_key: {SECRET}\n{extra}"
    )
}
