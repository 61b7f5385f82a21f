//! `http::ServerConn` on an arbitrary byte stream: no panic, requests well cut out of their
//! buffers, a closed connection stays closed, and the same requests (and the same error)
//! whether the stream arrives whole or in small pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmsc_wire_fuzz::check_http(data));
