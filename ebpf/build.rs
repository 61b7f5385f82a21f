//! Compiles the C BPF programs in bpf/ with clang into OUT_DIR; src/lib.rs embeds the
//! objects with `include_bytes_aligned!`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs mmsc loads, then two only for tests: one the verifier refuses, and another
/// tool's XDP program.
const PROGRAMS: [&str; 4] = [
    "mmsc_xdp",
    "mmsc_reuseport",
    "test_rejected_xdp",
    "test_foreign_xdp",
];
const HEADERS: [&str; 1] = ["mmsc_maps.h"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let bpf = manifest.join("bpf");
    let clang = env::var_os("MMSC_BPF_CLANG").unwrap_or_else(|| "clang".into());
    println!("cargo:rerun-if-env-changed=MMSC_BPF_CLANG");
    for header in HEADERS {
        println!("cargo:rerun-if-changed={}", bpf.join(header).display());
    }
    for program in PROGRAMS {
        let source = bpf.join(format!("{program}.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        compile(&clang, &bpf, &source, &out.join(format!("{program}.o")));
    }
}

fn compile(clang: &std::ffi::OsStr, include: &Path, source: &Path, object: &Path) {
    let status = Command::new(clang)
        .args([
            "-O2",
            "-g",
            "-Wall",
            "-Werror",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
        ])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "mmsc-ebpf: clang failed ({status}) compiling {}; the BPF programs need clang \
             with the bpf target and the kernel and libbpf headers (Debian: clang, \
             libbpf-dev, linux-libc-dev)",
            source.display()
        ),
        Err(error) => panic!(
            "mmsc-ebpf: cannot run {} ({error}): the BPF programs are built with clang \
             (Debian: apt-get install clang libbpf-dev; or set MMSC_BPF_CLANG to a clang \
             binary)",
            clang.to_string_lossy()
        ),
    }
}
