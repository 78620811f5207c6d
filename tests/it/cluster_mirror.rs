//! The state mirror against a real S3 server on loopback (s3s-fs): push and fetch, pushing only
//! what changed, old parts deleted two generations on, a new leader deposing the old one,
//! tampered parts and forged indexes refused.

use crate::cluster::{CLUSTER_SECRET, cluster_with as cluster, rt};
use crate::common::s3::{BUCKET, S3Server};
use pharos::cluster::mirror::{self, Mirror, Pushed};
use pharos::cluster::remote::Remote;
use pharos::store::{Part, gzip};
use std::sync::Arc;

fn part(name: &str, text: &str) -> Part {
    Part {
        name: name.into(),
        bytes: gzip(text.as_bytes()),
    }
}

fn parts(generation: &str) -> Vec<Part> {
    // In name order, as the store and the index hold them; [2] changes by generation.
    vec![
        part("content/incidents/a.md", "an incident"),
        part("table/daily_rollups/2026-11-29", "closed day"),
        part(
            "table/daily_rollups/2026-11-30",
            &format!("today {generation}"),
        ),
        part("table/monitor_state", "monitors"),
    ]
}

/// Keys of the parts in the store (from the server's folder).
fn stored_parts(server: &S3Server) -> Vec<String> {
    let mut keys: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("cluster/state/parts/"))
        .collect();
    keys.sort();
    keys
}

fn sha(p: &Part) -> String {
    use sha2::Digest;
    pharos::ids::hex(&sha2::Sha256::digest(&p.bytes))
}

#[test]
fn pushed_state_is_fetched_back_whole_and_checked() {
    let server = S3Server::start();
    let c = cluster(&server, CLUSTER_SECRET);
    rt().block_on(async {
        let remote = Arc::new(Remote::new(&c).await.unwrap());
        assert!(
            mirror::fetch(&remote).await.unwrap().is_none(),
            "nothing yet"
        );
        let mut m = Mirror::new(remote.clone(), "eu-west/a", 1);
        let one = parts("1");
        let total: u64 = one.iter().map(|p| p.bytes.len() as u64).sum();
        assert_eq!(
            m.push(&one).await.unwrap(),
            Pushed::Written {
                uploaded: 4,
                bytes: total
            }
        );
        let got = mirror::fetch(&remote).await.unwrap().unwrap();
        assert_eq!(got.parts, one, "every part, in name order");
        assert_eq!(got.index.holder, "eu-west/a");
        assert_eq!((got.index.term, got.index.seq), (1, 1));
        assert_eq!(got.index.parts["table/monitor_state"].sha256, sha(&one[3]));
    });
    assert_eq!(stored_parts(&server).len(), 4);
}

#[test]
fn an_equal_push_makes_no_request_and_a_changed_part_uploads_only_itself() {
    let mut server = S3Server::start();
    let c = cluster(&server, CLUSTER_SECRET);
    let rt = rt();
    let remote = Arc::new(rt.block_on(Remote::new(&c)).unwrap());
    let mut m = Mirror::new(remote.clone(), "eu-west/a", 1);
    assert!(matches!(
        rt.block_on(m.push(&parts("1"))).unwrap(),
        Pushed::Written { uploaded: 4, .. }
    ));
    // With the server down, any request would fail: an equal push makes none.
    server.stop();
    assert_eq!(rt.block_on(m.push(&parts("1"))).unwrap(), Pushed::Unchanged);
    server.restart();
    let two = parts("2");
    assert_eq!(
        rt.block_on(m.push(&two)).unwrap(),
        Pushed::Written {
            uploaded: 1,
            bytes: two[2].bytes.len() as u64
        }
    );
    let got = rt.block_on(mirror::fetch(&remote)).unwrap().unwrap();
    assert_eq!(got.parts, two);
    assert_eq!(got.index.seq, 2);
    // Generation 1's day part is still there: a successor may be reading index 1.
    assert_eq!(stored_parts(&server).len(), 5);
}

#[test]
fn parts_go_once_neither_the_index_nor_the_one_before_names_them() {
    let server = S3Server::start();
    let c = cluster(&server, CLUSTER_SECRET);
    let rt = rt();
    let remote = Arc::new(rt.block_on(Remote::new(&c)).unwrap());
    let mut m = Mirror::new(remote.clone(), "eu-west/a", 1);
    let gens: Vec<Vec<Part>> = ["1", "2", "3", "4"].iter().map(|g| parts(g)).collect();
    let key = |g: usize| format!("cluster/state/parts/{}", sha(&gens[g][2]));
    for (n, g) in gens[..3].iter().enumerate() {
        let Pushed::Written { uploaded, .. } = rt.block_on(m.push(g)).unwrap() else {
            panic!("written");
        };
        assert_eq!(uploaded, if n == 0 { 4 } else { 1 });
    }
    let stored = stored_parts(&server);
    assert!(!stored.contains(&key(0)), "generation 1 went: {stored:?}");
    assert!(stored.contains(&key(1)) && stored.contains(&key(2)));
    assert_eq!(stored.len(), 5, "3 shared parts and two days: {stored:?}");
    // A part that comes back (equal bytes again) is uploaded again and kept.
    rt.block_on(m.push(&gens[0])).unwrap();
    rt.block_on(m.push(&gens[3])).unwrap();
    let stored = stored_parts(&server);
    assert!(stored.contains(&key(0)) && stored.contains(&key(3)));
    assert!(!stored.contains(&key(1)) && !stored.contains(&key(2)));
    let got = rt.block_on(mirror::fetch(&remote)).unwrap().unwrap();
    assert_eq!(got.parts, gens[3]);
}

#[test]
fn a_new_leader_continues_from_the_index_and_deposes_the_old_one() {
    let server = S3Server::start();
    let c = cluster(&server, CLUSTER_SECRET);
    rt().block_on(async {
        let remote = Arc::new(Remote::new(&c).await.unwrap());
        let mut a = Mirror::new(remote.clone(), "eu-west/a", 1);
        a.push(&parts("1")).await.unwrap();
        // B takes over: it reads the state, restores it, and pushes with its term.
        let read = mirror::fetch(&remote).await.unwrap().unwrap();
        let mut b = Mirror::new(remote.clone(), "us-east/b", 2);
        b.adopt(&read);
        assert_eq!(
            b.push(&read.parts).await.unwrap(),
            Pushed::Written {
                uploaded: 0,
                bytes: 0
            },
            "its first push claims the index, uploading nothing it read"
        );
        assert_eq!(
            b.push(&parts("2")).await.unwrap(),
            Pushed::Written {
                uploaded: 1,
                bytes: parts("2")[2].bytes.len() as u64
            }
        );
        // A, still thinking it leads, is told otherwise, and stays told.
        assert_eq!(a.push(&parts("3")).await.unwrap(), Pushed::Deposed);
        assert_eq!(a.push(&parts("1")).await.unwrap(), Pushed::Deposed);
        let now = mirror::fetch(&remote).await.unwrap().unwrap();
        assert_eq!(now.index.holder, "us-east/b");
        assert_eq!((now.index.term, now.index.seq), (2, 3));
        assert_eq!(now.parts, parts("2"));
        // Two instances starting without an index: one creates it, the other is deposed.
        let fresh = S3Server::start();
        let c2 = cluster(&fresh, CLUSTER_SECRET);
        let remote2 = Arc::new(Remote::new(&c2).await.unwrap());
        let mut x = Mirror::new(remote2.clone(), "x", 1);
        let mut y = Mirror::new(remote2.clone(), "y", 1);
        assert!(matches!(
            x.push(&parts("1")).await.unwrap(),
            Pushed::Written { .. }
        ));
        assert_eq!(y.push(&parts("1")).await.unwrap(), Pushed::Deposed);
    });
}

#[test]
fn a_tampered_part_or_a_forged_index_is_refused_with_its_name() {
    let server = S3Server::start();
    let c = cluster(&server, CLUSTER_SECRET);
    rt().block_on(async {
        let remote = Arc::new(Remote::new(&c).await.unwrap());
        let mut m = Mirror::new(remote.clone(), "eu-west/a", 1);
        let one = parts("1");
        m.push(&one).await.unwrap();
        let key = format!("cluster/state/parts/{}", sha(&one[0]));
        let original = server.object(&key).unwrap();
        server.overwrite(&key, "planted rows");
        let err = format!("{:#}", mirror::fetch(&remote).await.unwrap_err());
        assert!(
            err.contains("content/incidents/a.md") && err.contains("does not match"),
            "{err}"
        );
        std::fs::write(server.root.path().join(BUCKET).join(&key), original).unwrap();
        assert!(mirror::fetch(&remote).await.is_ok(), "restored, it reads");
        server.remove(&key);
        let err = format!("{:#}", mirror::fetch(&remote).await.unwrap_err());
        assert!(err.contains("missing"), "{err}");

        // An index signed with another secret, or edited: refused, whatever it names.
        let genuine =
            String::from_utf8(server.object("cluster/state/index.json").unwrap()).unwrap();
        let forged = mirror::Index {
            holder: "attacker".into(),
            term: 99,
            seq: 1,
            parts: Default::default(),
        };
        let sealed = pharos::cluster::envelope::seal("another-secret-0123456789", "state", &forged);
        server.overwrite(
            "cluster/state/index.json",
            std::str::from_utf8(&sealed).unwrap(),
        );
        let err = format!("{:#}", mirror::fetch(&remote).await.unwrap_err());
        assert!(
            err.contains("state/index.json") && err.contains("signature"),
            "{err}"
        );
        assert!(genuine.contains("\"seq\":1"), "{genuine}");
        server.overwrite(
            "cluster/state/index.json",
            &genuine.replace("\"seq\":1", "\"seq\":7"),
        );
        let err = format!("{:#}", mirror::fetch(&remote).await.unwrap_err());
        assert!(err.contains("signature"), "{err}");
        server.overwrite("cluster/state/index.json", "{\"not\":\"signed\"}");
        let err = format!("{:#}", mirror::fetch(&remote).await.unwrap_err());
        assert!(err.contains("refused"), "{err}");
    });
}
