//! WAP Push and its SMS carriage on arbitrary bytes: `push::PushPdu::decode` (with encode →
//! decode identity), `push::parse_user_data`, `push::segment` → `push::reassemble` /
//! `push::Reassembler` identity in shuffled order amid noise, and bounded reassembly of
//! arbitrary segments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmsc_wire_fuzz::check_push(data));
