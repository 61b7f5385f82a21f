//! Shows what a fuzz input decodes to, its canonical encoding, and what that decodes to:
//! `cargo run --release --example explain -- pdu|multipart FILE`.

use mmsc_wire::reader::Reader;
use mmsc_wire::wsp::{decode_multipart, encode_multipart};
use mmsc_wire::{Limits, Pdu};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, file] = args.as_slice() else {
        return Err("usage: explain pdu|multipart FILE".into());
    };
    let data = std::fs::read(file)?;
    let limits = mmsc_wire_fuzz::small_limits();
    let relaxed = Limits {
        max_pdu_bytes: usize::MAX,
        ..limits.clone()
    };
    println!("input:   {}", mmsc_wire_fuzz::hex(&data));
    match kind.as_str() {
        "pdu" => {
            let (pdu, warnings) = Pdu::decode_with_warnings(&data, &limits)?;
            println!("decoded: {pdu:#?}\nwarnings: {warnings:?}");
            let enc = pdu.encode()?;
            println!("encoded: {}", mmsc_wire_fuzz::hex(&enc));
            println!("again:   {:#?}", Pdu::decode(&enc, &relaxed));
        }
        "multipart" => {
            let mut w = Vec::new();
            let parts = decode_multipart(&mut Reader::new(&data), &limits, 0, &mut w)?;
            println!("decoded: {parts:#?}\nwarnings: {w:?}");
            let mut enc = Vec::new();
            encode_multipart(&mut enc, &parts)?;
            println!("encoded: {}", mmsc_wire_fuzz::hex(&enc));
            let mut w2 = Vec::new();
            println!(
                "again:   {:#?}",
                decode_multipart(&mut Reader::new(&enc), &limits, 0, &mut w2)
            );
        }
        _ => return Err("kind is pdu or multipart".into()),
    }
    Ok(())
}
