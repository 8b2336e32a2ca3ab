//! `tessera`: the binary. Parses the command line, resolves settings, wires
//! the core to its stores and runs the command. Everything it does is a call
//! into the library crates; errors end as one line on stderr and exit 1.

mod cli;
mod client;
mod dev_cert;
mod key;
mod serve;
mod session;
mod settings;
mod user;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs at info; one-shot commands only warn, so that a failing
    // command's stderr is its one-line reason.
    let default_filter = match cli.command {
        Command::Serve => "info,sqlx=warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Needs no settings (and no store): works before anything is configured.
    if let Command::DevCert { out } = &cli.command {
        return dev_cert::run(out);
    }
    let settings = settings::resolve(cli.settings)?;
    match cli.command {
        Command::Serve => serve::run(settings).await,
        Command::User(cmd) => user::run(settings, cmd).await,
        Command::Client(cmd) => client::run(settings, cmd).await,
        Command::Key(cmd) => key::run(settings, cmd).await,
        Command::Session(cmd) => session::run(settings, cmd).await,
        Command::LogoutAll { name } => {
            let tessera = wiring::tessera(&settings).await?;
            let user = tessera
                .find_user_by_name(&name)
                .await
                .map_err(|e| anyhow::anyhow!("user {name}: {e}"))?;
            tessera.log_out_everywhere(&user.id).await?;
            Ok(())
        }
        // Handled above, before the settings; kept so the match stays exhaustive.
        Command::DevCert { out } => dev_cert::run(&out),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // One line: the outermost context and its causes.
    let line = e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
    eprintln!("tessera: {line}");
    ExitCode::FAILURE
}
