//! `wsp::decode_multipart` on arbitrary bytes with depth and part limits: no panic; on success
//! the part accessors and encode → decode identity.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmsc_wire_fuzz::check_multipart(data));
