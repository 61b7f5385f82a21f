//! `Pdu::decode` on arbitrary bytes with small limits: no panic; on success the accessors,
//! Display of the content types, `into_owned`, and parse → emit → parse identity.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmsc_wire_fuzz::check_pdu(data));
