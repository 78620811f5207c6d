//! The several-regions test peers themselves (common/regional.rs): the regional target fails for
//! the chosen region only, and the proxy in front of the store really cuts and restores.

use crate::common::regional::{Proxy, RegionalHttp, region_of};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Only a guard against a hang: a failing connection must fail, never sit waiting.
const GUARD: Duration = Duration::from_secs(20);

fn ua(region: &str) -> String {
    format!("Pharos/0.1.0 (status monitor; region={region})")
}

/// A GET with `user_agent` on a fresh connection: the status code and the body.
fn get(server: &RegionalHttp, user_agent: &str) -> (u16, String) {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: {}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n\r\n",
        server.addr()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"));
    assert!(
        resp.contains("\r\nConnection: close\r\n"),
        "{resp}: answers close the connection"
    );
    let body = resp.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

#[test]
fn regional_target_fails_only_for_the_failing_regions() {
    assert_eq!(region_of(&ua("eu-west")), Some("eu-west"));
    assert_eq!(region_of("curl/8"), None);

    let server = RegionalHttp::start();
    assert!(server.url().ends_with("/health"));
    assert_eq!(get(&server, &ua("eu-west")), (200, "ok\n".into()));

    server.fail(&["eu-west"]);
    assert_eq!(get(&server, &ua("eu-west")).0, 503);
    // A region whose name merely starts like the failing one is not failing.
    assert_eq!(get(&server, &ua("eu-west-2")).0, 200);
    assert_eq!(get(&server, &ua("us-east")).0, 200);
    assert_eq!(get(&server, "curl/8").0, 200);

    server.fail(&[]);
    assert_eq!(get(&server, &ua("eu-west")).0, 200);

    assert_eq!(server.hits("eu-west"), 3);
    assert_eq!(server.hits("eu-west-2"), 1);
    assert_eq!(server.hits("us-east"), 1);
    assert_eq!(server.hits("ap-south"), 0);
    assert_eq!(server.total(), 6);
}

/// An echo server on loopback: each connection gets back what it sends, until it closes.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    s
}

fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// The connection has failed: a read ends (reset or closed) instead of waiting for the guard.
fn assert_failed(s: &mut TcpStream, what: &str) {
    let _ = s.write_all(b"anyone there?");
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: got {:?} through a cut proxy", &buf[..n]),
        Err(e) => assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{what}: hung instead of failing"
        ),
    }
}

#[test]
fn proxy_carries_connections_until_cut_and_again_after_restore() {
    let proxy = Proxy::start(echo_server());
    assert_eq!(proxy.endpoint(), format!("http://{}", proxy.addr()));

    // One connection carries several exchanges (keep-alive), both ways.
    let mut kept = connect(&proxy);
    echo(&mut kept, b"first");
    echo(&mut kept, b"second");
    assert_eq!(proxy.open_connections(), 1);

    // A client blocked waiting for an answer when the link goes (the echo has nothing to send
    // back), beside the idle keep-alive one.
    let mut waiting = connect(&proxy);
    echo(&mut waiting, b"ready");
    let waiter = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        waiting.read(&mut buf).map_err(|e| e.kind())
    });
    proxy.cut();
    assert_eq!(proxy.open_connections(), 0);
    assert_failed(&mut kept, "open connection");
    match waiter.join().unwrap() {
        Ok(0) | Err(ErrorKind::ConnectionReset) => {}
        other => panic!("a client waiting for an answer got {other:?} from a cut proxy"),
    }
    assert_failed(&mut connect(&proxy), "new connection while cut");

    proxy.restore();
    let mut again = connect(&proxy);
    echo(&mut again, b"back");
    echo(&mut again, b"and again");
}

/// The cluster store's own client through the proxy: a cut store is an error the caller gets
/// back (after the client's retries), not a hang; once restored the same client works again.
#[test]
fn the_store_client_through_a_cut_proxy_fails_and_recovers() {
    use crate::common::s3::{BUCKET, KEY, S3Server, SECRET};
    use pharos::cluster::remote::Remote;

    let server = S3Server::start();
    let proxy = Proxy::start(server.addr);
    let yaml = format!(
        "site: {{title: T, base_url: https://s.test}}\ncluster:\n  store:\n    bucket: {BUCKET}\n    prefix: cluster/\n    endpoint: {}\n    path_style: true\n    region: us-east-1\n    access_key_id: {KEY}\n    secret_access_key: {SECRET}\n  secret: test-cluster-secret-0123456789\n  lease: 3s\n",
        proxy.endpoint()
    );
    let c = pharos::config::Config::parse(&yaml, std::path::Path::new("config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .cluster
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let remote = Remote::new(&c).await.unwrap();
        remote
            .put_raw("results/eu-west.json", b"{}".to_vec())
            .await
            .unwrap();
        assert!(
            proxy.open_connections() >= 1,
            "the client keeps its connection"
        );

        proxy.cut();
        let started = std::time::Instant::now();
        let err = remote
            .get_raw("results/eu-west.json")
            .await
            .expect_err("a read through a cut link fails");
        // A figure, not an assertion: how long the client's retries take to give up.
        eprintln!("cut store: {err:#} after {:?}", started.elapsed());

        proxy.restore();
        let (bytes, _) = remote
            .get_raw("results/eu-west.json")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bytes, b"{}");
    });
}
