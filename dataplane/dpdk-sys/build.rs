//! Finds the system's DPDK with `pkg-config` (run as a command: the `pkg_config` crate drops
//! `-include rte_config.h` and `-march`, which DPDK's headers need), generates bindings for
//! what the dataplane uses with bindgen, compiles the C shim over DPDK's static-inline
//! fast-path functions with `cc`, and links DPDK.
//!
//! Environment: `PKG_CONFIG` (the pkg-config binary, default `pkg-config`) and
//! `PKG_CONFIG_PATH` / `PKG_CONFIG_LIBDIR` (where to find a DPDK installed elsewhere, e.g.
//! `/opt/dpdk/lib/x86_64-linux-gnu/pkgconfig`).

use std::env;
use std::path::PathBuf;
use std::process::{Command, exit};

/// The oldest DPDK these bindings and the shim are written for (Debian 12's libdpdk-dev).
const MIN_DPDK_VERSION: &str = "22.11";

/// Functions of DPDK the safe wrappers call (plus every `mmsc_*` function of the shim).
const FUNCTIONS: &[&str] = &[
    // EAL, lcores, launching work on lcores.
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "rte_lcore_count",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_lcore_is_enabled",
    "rte_lcore_to_socket_id",
    "rte_socket_id",
    "rte_eal_remote_launch",
    "rte_eal_mp_remote_launch",
    "rte_eal_wait_lcore",
    "rte_eal_mp_wait_lcore",
    "rte_thread_register",
    "rte_thread_unregister",
    // ethdev.
    "rte_eth_dev_count_avail",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_dev_socket_id",
    "rte_eth_macaddr_get",
    "rte_eth_stats_get",
    "rte_eth_stats_reset",
    "rte_eth_promiscuous_enable",
    "rte_eth_promiscuous_disable",
    "rte_eth_dev_set_mtu",
    "rte_eth_dev_get_mtu",
    "rte_eth_link_get_nowait",
    // mempool and mbuf (the non-inline part).
    "rte_pktmbuf_pool_create",
    "rte_pktmbuf_free_bulk",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_mempool_lookup",
];

/// Types used by value (the rest come in through the functions' signatures).
const TYPES: &[&str] = &[
    "rte_eth_conf",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_stats",
    "rte_eth_link",
    "rte_eth_dev_info",
    "rte_ether_addr",
    "rte_ether_hdr",
    "rte_lcore_state_t",
    "rte_rmt_call_main_t",
    "lcore_function_t",
];

/// Constants (macros bindgen can evaluate; the others are shim functions).
const VARS: &[&str] = &[
    "RTE_MAX_ETHPORTS",
    "RTE_MAX_QUEUES_PER_PORT",
    "RTE_ETH_NAME_MAX_LEN",
    "RTE_ETHER_ADDR_LEN",
    "RTE_ETHER_HDR_LEN",
    "RTE_ETHER_MTU",
    "RTE_ETHER_TYPE_.*",
    "RTE_EAL_PMD_PATH",
    "RTE_MAX_LCORE",
    "RTE_MEMPOOL_CACHE_MAX_SIZE",
    "RTE_MEMZONE_NAMESIZE",
    "RTE_ETH_LINK_.*",
    "LCORE_ID_ANY",
    "SOCKET_ID_ANY",
];

/// Types whose layout the wrappers never look into: the shim's accessors do.
const OPAQUE: &[&str] = &["rte_mbuf", "rte_mempool", "rte_device"];

fn fail(message: &str) -> ! {
    eprintln!();
    eprintln!("error: dpdk-sys: {message}");
    eprintln!();
    eprintln!(
        "dpdk-sys builds against the system's DPDK (>= {MIN_DPDK_VERSION}), found with \
         `pkg-config libdpdk`."
    );
    eprintln!("  Debian / Ubuntu: apt-get install libdpdk-dev pkg-config libclang-dev clang");
    eprintln!("  DPDK built from source: set PKG_CONFIG_PATH to the directory holding libdpdk.pc");
    eprintln!("  (e.g. /usr/local/lib/x86_64-linux-gnu/pkgconfig).");
    eprintln!("Only the dpdk backend needs it (the mmsc binary's cargo feature `dpdk`).");
    exit(1);
}

/// Runs pkg-config with `args` and returns its standard output.
fn pkg_config(args: &[&str]) -> String {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let output = match Command::new(&program).args(args).output() {
        Ok(output) => output,
        Err(e) => fail(&format!("cannot run `{program}`: {e}")),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        fail(&format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            stderr.trim()
        ));
    }
    match String::from_utf8(output.stdout) {
        Ok(s) => s,
        Err(_) => fail(&format!(
            "`{program} {}` printed non-UTF-8 output",
            args.join(" ")
        )),
    }
}

fn main() {
    for var in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-changed=src/wrapper.h");

    let version = pkg_config(&["--modversion", "libdpdk"]);
    let version = version.trim();
    // `--atleast-version` answers with its exit status only.
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let recent = Command::new(&program)
        .args(["--atleast-version", MIN_DPDK_VERSION, "libdpdk"])
        .status()
        .is_ok_and(|s| s.success());
    if !recent {
        fail(&format!(
            "found DPDK {version}, need {MIN_DPDK_VERSION} or newer"
        ));
    }

    // Kept as pkg-config prints them, in order: `-include rte_config.h` is two tokens.
    let cflags: Vec<String> = pkg_config(&["--cflags", "libdpdk"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let libs = pkg_config(&["--libs", "libdpdk"]);

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let src = manifest_dir.join("src");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    // The shim: DPDK's static-inline functions as real symbols. Compiled first, so its static
    // library comes before the DPDK libraries it calls on the link line.
    let mut shim = cc::Build::new();
    shim.file(src.join("shim.c"))
        .include(&src)
        .warnings(false)
        .opt_level(2);
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("mmsc_dpdk_shim");

    let mut builder = bindgen::Builder::default()
        .header(src.join("wrapper.h").to_string_lossy())
        .clang_arg(format!("-I{}", src.display()))
        .clang_args(&cflags)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("mmsc_.*")
        .prepend_enum_name(false)
        .derive_default(true)
        .generate_comments(false)
        .size_t_is_usize(true)
        .layout_tests(true);
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    for t in OPAQUE {
        // The opaque type itself stays (as a blob of its size); its inner anonymous types go.
        builder = builder.opaque_type(t).blocklist_type(format!("{t}_.+"));
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => fail(&format!(
            "bindgen could not read DPDK's headers ({e}); is libclang-dev installed?"
        )),
    };
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .expect("write bindings.rs to OUT_DIR");

    // Link DPDK as pkg-config says. Debian's libdpdk.pc lists every library; rustc links with
    // --as-needed, so only those the shim and the wrappers reference end up in DT_NEEDED.
    // Drivers (PMDs, mempool handlers, buses) are not linked: a shared DPDK loads every
    // plugin in its RTE_EAL_PMD_PATH directory at rte_eal_init.
    for token in libs.split_whitespace() {
        if let Some(dir) = token.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = token.strip_prefix("-l") {
            match lib.strip_prefix(':') {
                Some(file) if file.ends_with(".a") => {
                    println!("cargo:rustc-link-lib=static:+verbatim={file}");
                }
                Some(file) => println!("cargo:rustc-link-lib=dylib:+verbatim={file}"),
                None => println!("cargo:rustc-link-lib={lib}"),
            }
        } else if token.starts_with("-Wl,") || token == "-pthread" {
            // rustc already links with --as-needed, and pthread is part of glibc.
        } else {
            println!("cargo:warning=dpdk-sys: ignoring linker flag `{token}` from pkg-config");
        }
    }

    // For dependents (`DEP_RTE_EAL_VERSION`, `DEP_RTE_EAL_CFLAGS`) and for the crate itself.
    println!("cargo:version={version}");
    println!("cargo:cflags={}", cflags.join(" "));
    println!("cargo:rustc-env=MMSC_DPDK_VERSION={version}");
}
