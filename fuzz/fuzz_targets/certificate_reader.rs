//! Certificates as the host reads them: DER or PEM, parsed and summarised.
#![no_main]

use asan_host::cert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = cert::pem_or_der(data)
        && let Ok(c) = cert::parse(&der)
    {
        let _ = cert::summary(&c, "citizen", "sign", 0);
        let _ = cert::public_key_bytes(&c);
    }
});
