//! The condition language: parse, and when it parses, evaluate against a fixed observation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos::condition::{Observed, parse};
use std::sync::OnceLock;
use std::time::Duration;

fn observed() -> &'static [Observed; 2] {
    static OBS: OnceLock<[Observed; 2]> = OnceLock::new();
    OBS.get_or_init(|| {
        [
            Observed {
                status: Some(200),
                response_time: Some(Duration::from_millis(120)),
                body: Some(
                    r#"{"status":"ok","data":{"state":"UP","items":[{"n":3},{"n":-1.5e300}]},"count":5,"s":"\u00e9\"x"}"#
                        .into(),
                ),
                cert_expiry: Some(Duration::from_secs(20 * 86_400)),
                dns_rcode: Some("NOERROR".into()),
                dns_answer: vec!["10.0.0.1".into(), "10.0.0.2".into()],
                connected: Some(true),
            },
            // Nothing observed (a failed connect): every field missing.
            Observed::default(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(cond) => {
            let _ = cond.field();
            for obs in observed() {
                let _ = cond.eval(obs);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
