//! Any text given to the config parser gives a `Config` or a `ConfigError`
//! (whose message can be printed), never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = desawifi::config::Config::parse(text, Path::new("fuzz.toml")) {
        let _ = e.to_string();
    }
});
