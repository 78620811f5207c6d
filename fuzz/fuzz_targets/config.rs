//! The config loader: YAML, `${VAR}` expansion, and validation (with located problems).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match pharos::config::Config::parse(text, Path::new("config.yaml")) {
        Ok(config) => {
            let _ = pharos::content::ParseContext::of(&config);
        }
        Err(problems) => {
            // Formatting the problems is what the admin sees: it must not panic either.
            let _ = problems.to_string();
        }
    }
});
