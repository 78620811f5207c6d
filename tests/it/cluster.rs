//! The cluster's coordination against a real S3 server on loopback (s3s-fs, which honours
//! `If-None-Match` and `If-Match` on PUT): conditional writes, the lease, forged objects.

use crate::common::s3::{BUCKET, KEY, S3Server, SECRET};
use pharos::cluster::lease::{Lease, Role};
use pharos::cluster::remote::Remote;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CLUSTER_SECRET: &str = "test-cluster-secret-0123456789";

fn cluster(server: &S3Server) -> pharos::config::Cluster {
    cluster_with(server, CLUSTER_SECRET)
}

/// A `cluster:` config on `server` (lease 3 s), signed with `secret`.
pub fn cluster_with(server: &S3Server, secret: &str) -> pharos::config::Cluster {
    let yaml = format!(
        "site: {{title: T, base_url: https://s.test}}\ncluster:\n  store:\n    bucket: {BUCKET}\n    prefix: cluster/\n    endpoint: {}\n    path_style: true\n    region: us-east-1\n    access_key_id: {KEY}\n    secret_access_key: {SECRET}\n  secret: {secret}\n  lease: 3s\n",
        server.endpoint()
    );
    pharos::config::Config::parse(&yaml, std::path::Path::new("config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .cluster
        .unwrap()
}

/// A runtime for one test's async calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn conditional_writes_create_once_and_replace_only_what_was_read() {
    let server = S3Server::start();
    let c = cluster(&server);
    rt().block_on(async {
        let remote = Remote::new(&c).await.unwrap();
        let first = remote.create("x.json", "t", &1u32).await.unwrap();
        assert!(first.is_some(), "the first create wins");
        assert_eq!(remote.create("x.json", "t", &2u32).await.unwrap(), None);
        let read = remote.read::<u32>("x.json", "t").await.unwrap().unwrap();
        assert_eq!(read.body, Ok(1));
        let second = remote
            .replace("x.json", "t", &3u32, &read.etag)
            .await
            .unwrap();
        assert!(second.is_some());
        assert_eq!(
            remote
                .replace("x.json", "t", &4u32, &read.etag)
                .await
                .unwrap(),
            None,
            "a stale ETag loses"
        );
        assert_eq!(
            remote
                .read::<u32>("x.json", "t")
                .await
                .unwrap()
                .unwrap()
                .body,
            Ok(3)
        );
    });
    assert!(
        server.object("cluster/x.json").is_some(),
        "under the prefix"
    );
}

/// Step `l` every `every` until `until` holds or `secs` pass; the roles seen.
async fn step_until(l: &mut Lease, secs: u64, mut until: impl FnMut(&Role) -> bool) -> Role {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let role = l.step().await.unwrap_or(Role::Standby { holder: None });
        if until(&role) || Instant::now() > deadline {
            return role;
        }
        tokio::time::sleep(l.interval()).await;
    }
}

#[test]
fn one_leader_a_standby_takes_over_a_silent_lease_and_the_old_leader_stands_by() {
    let server = S3Server::start();
    let c = cluster(&server);
    rt().block_on(async {
        let remote = Arc::new(Remote::new(&c).await.unwrap());
        let mut a = Lease::new(remote.clone(), "eu-west/a", c.lease.0);
        let mut b = Lease::new(remote.clone(), "us-east/b", c.lease.0);
        assert_eq!(a.step().await.unwrap(), Role::Leader { term: 1 });
        assert!(a.valid(Instant::now()));
        assert_eq!(
            b.step().await.unwrap(),
            Role::Standby {
                holder: Some("eu-west/a".into())
            }
        );
        // While A renews, B never takes over (two whole leases).
        let until = Instant::now() + c.lease.0 * 2;
        while Instant::now() < until {
            assert_eq!(a.step().await.unwrap(), Role::Leader { term: 1 });
            assert!(matches!(b.step().await.unwrap(), Role::Standby { .. }));
            tokio::time::sleep(a.interval()).await;
        }
        // A goes silent: it stops acting after two thirds of the lease, B takes over later.
        let silent = Instant::now();
        let role = step_until(&mut b, 10, |r| matches!(r, Role::Leader { .. })).await;
        assert_eq!(role, Role::Leader { term: 2 });
        let took = silent.elapsed();
        assert!(!a.valid(Instant::now()), "A no longer acts");
        assert!(took >= c.lease.0 * 2 / 3, "took over after {took:?}");
        // A comes back: its renewal finds B's lease and it stands by.
        assert_eq!(a.step().await.unwrap(), Role::Standby { holder: None });
        assert!(!a.valid(Instant::now()));
        assert!(matches!(b.step().await.unwrap(), Role::Leader { term: 2 }));
    });
}

#[test]
fn a_leader_cut_off_from_the_store_stops_acting_in_time() {
    let mut server = S3Server::start();
    let c = cluster(&server);
    let rt = rt();
    let remote = Arc::new(rt.block_on(Remote::new(&c)).unwrap());
    let mut a = Lease::new(remote, "eu-west/a", c.lease.0);
    assert_eq!(rt.block_on(a.step()).unwrap(), Role::Leader { term: 1 });
    let renewed = Instant::now();
    server.stop();
    assert!(rt.block_on(a.step()).is_err(), "the store is down");
    std::thread::sleep(
        c.lease.0 * 2 / 3 + Duration::from_millis(100) - renewed.elapsed().min(c.lease.0 * 2 / 3),
    );
    assert!(
        !a.valid(Instant::now()),
        "no acting past two thirds of the lease"
    );
    server.restart();
    // Nobody took over: the renewal with its old ETag still holds.
    assert_eq!(rt.block_on(a.step()).unwrap(), Role::Leader { term: 1 });
    assert!(a.valid(Instant::now()));
}

#[test]
fn a_planted_lease_object_is_refused_and_taken_over_once_it_sits_still() {
    let server = S3Server::start();
    let c = cluster(&server);
    std::fs::create_dir_all(server.root.path().join(BUCKET).join("cluster")).unwrap();
    server.overwrite(
        "cluster/lease.json",
        r#"{"kind":"lease","body":{"holder":"attacker","term":99,"renewals":0},"mac":"00"}"#,
    );
    rt().block_on(async {
        let remote = Arc::new(Remote::new(&c).await.unwrap());
        let mut b = Lease::new(remote, "us-east/b", c.lease.0);
        assert_eq!(
            b.step().await.unwrap(),
            Role::Standby { holder: None },
            "not trusted"
        );
        let role = step_until(&mut b, 10, |r| matches!(r, Role::Leader { .. })).await;
        // Its term is not believed either: the takeover starts from nothing.
        assert_eq!(role, Role::Leader { term: 1 });
    });
}
