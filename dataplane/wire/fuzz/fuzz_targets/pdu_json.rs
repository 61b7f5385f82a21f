//! The JSON form of PDUs: `json::from_json` on arbitrary JSON, `json::to_json` of arbitrary
//! decoded PDUs; the JSON form must survive JSON → PDU → octets → PDU → JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mmsc_wire_fuzz::check_pdu_json(data));
