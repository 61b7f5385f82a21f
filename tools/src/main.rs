//! `mmsc`: the MMS Relay/Server and its operator tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod afxdp_backend;
mod dpdk_backend;
mod fastpath;
mod pdu;
mod serve;

// Many small allocations cross threads (request buffers freed by the store writer, replies
// built by the control plane): mimalloc's free lists handle that better than glibc's arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `, xdp` in a build with backend xdp.
#[cfg(feature = "ebpf")]
macro_rules! xdp_backend {
    () => {
        ", xdp"
    };
}
#[cfg(not(feature = "ebpf"))]
macro_rules! xdp_backend {
    () => {
        ""
    };
}
/// `, dpdk` in a build with backend dpdk.
#[cfg(feature = "dpdk")]
macro_rules! dpdk_backend {
    () => {
        ", dpdk"
    };
}
#[cfg(not(feature = "dpdk"))]
macro_rules! dpdk_backend {
    () => {
        ""
    };
}
/// `, afxdp` in a build with backend afxdp.
#[cfg(feature = "afxdp")]
macro_rules! afxdp_backend {
    () => {
        ", afxdp"
    };
}
#[cfg(not(feature = "afxdp"))]
macro_rules! afxdp_backend {
    () => {
        ""
    };
}

/// The version, with the dataplane backends this build can run.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (backends: kernel",
    xdp_backend!(),
    afxdp_backend!(),
    dpdk_backend!(),
    ")"
);

/// mmsc, an MMS Relay/Server (3GPP TS 23.140 / OMA MMS).
#[derive(Debug, Parser)]
#[command(name = "mmsc", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MMSC (with no --config, a complete MMSC on loopback with its defaults).
    Serve {
        /// Configuration file (TOML); see `mmsc config example`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show the counters of a running `mmsc serve` (through its admin API, `[admin] listen`).
    Status {
        /// Configuration file of the running server (to find its admin API); defaults
        /// otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print or check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// List the notifications pushed in push mode "log".
    Notifications {
        /// Configuration file (to find the log); defaults otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON lines (one push per line) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Decode, encode and wrap MMS PDUs (OMA-TS-MMS_ENC) and WAP Push.
    Pdu {
        #[command(subcommand)]
        command: pdu::PduCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the full, documented default configuration.
    Example,
    /// Check a configuration file and report every problem in it.
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Exit status for bad input (malformed PDU, JSON, segments, configuration).
pub const EXIT_BAD_INPUT: u8 = 2;

fn notifications(config: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let cfg = serve::load_config(config.as_deref())?;
    let path = cfg.push.log_file(&cfg.store.path);
    let entries =
        mmsc_push::read_log(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for e in entries {
        if json {
            println!("{}", e.to_json_line());
        } else {
            println!("{}", e.summary_line());
        }
    }
    Ok(())
}

fn status(config: Option<PathBuf>) -> anyhow::Result<()> {
    let cfg = serve::load_config(config.as_deref())?;
    let addr = cfg
        .admin
        .listen
        .ok_or_else(|| anyhow::anyhow!("the admin API is off (admin.listen = \"\")"))?;
    print!("{}", admin::fetch_status(addr)?);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pdu { command } => pdu::run(command),
        Command::Serve { config } => serve::run(config),
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", mmsc_config::example());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => serve::load_config(Some(&file)).map(|_| println!("{}: ok", file.display())),
        Command::Notifications { config, json } => notifications(config, json),
        Command::Status { config } => status(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line per problem: the decode errors name the offset, the configuration
            // errors their key paths.
            eprintln!("mmsc: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
