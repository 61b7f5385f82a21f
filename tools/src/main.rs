//! `mmsc`: the MMS Relay/Server and its operator tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod pdu;

/// mmsc, an MMS Relay/Server (3GPP TS 23.140 / OMA MMS).
#[derive(Debug, Parser)]
#[command(name = "mmsc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode, encode and wrap MMS PDUs (OMA-TS-MMS_ENC) and WAP Push.
    Pdu {
        #[command(subcommand)]
        command: pdu::PduCommand,
    },
}

/// Exit status for bad input (malformed PDU, JSON, segments).
pub const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pdu { command } => pdu::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming the problem (and the offset, for decode errors).
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("mmsc: {line}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
