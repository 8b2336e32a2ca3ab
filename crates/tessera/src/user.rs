//! `tessera user add|disable|enable|list`: the same core calls the HTTP API makes.

use std::io::Read;

use anyhow::{Context, Result};
use tessera_core::OsEntropy;
use tessera_core::secret::Secret;

use crate::cli::UserCommand;
use crate::settings::Settings;

/// Runs one user command.
pub async fn run(settings: Settings, cmd: UserCommand) -> Result<()> {
    let tessera = crate::wiring::tessera(&settings).await?;
    match cmd {
        UserCommand::Add { name, scope, password_stdin } => {
            let password = if password_stdin {
                read_password_stdin()?
            } else {
                let generated = Secret::generate(&OsEntropy).expose().to_owned();
                eprintln!("generated password for {name}: {generated}");
                generated
            };
            let user = tessera.create_user(&name, &password, &scope).await?;
            println!("{}", user.id);
        }
        UserCommand::Disable { name } => {
            tessera.set_user_disabled(&name, true).await.with_context(|| format!("user {name}"))?;
        }
        UserCommand::Enable { name } => {
            tessera
                .set_user_disabled(&name, false)
                .await
                .with_context(|| format!("user {name}"))?;
        }
        UserCommand::List => {
            for u in tessera.list_users().await? {
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}\t{}", u.id, u.username, u.scope, state, u.created_at);
            }
        }
    }
    Ok(())
}

/// The whole of stdin, less one trailing newline (`\n` or `\r\n`); nothing
/// else is trimmed, so passwords with spaces survive.
fn read_password_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("cannot read the password from stdin")?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}
