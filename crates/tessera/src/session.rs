//! `tessera session list|revoke`.

use anyhow::{Result, bail};
use tessera_core::device::CurrentLogin;
use tessera_core::user::User;

use crate::cli::SessionCommand;
use crate::settings::Settings;

/// Runs one session command.
pub async fn run(settings: Settings, cmd: SessionCommand) -> Result<()> {
    let tessera = crate::wiring::tessera(&settings).await?;
    let users: Vec<User> = match &cmd {
        SessionCommand::List { user: Some(name) } => vec![
            tessera
                .find_user_by_name(name)
                .await
                .map_err(|e| anyhow::anyhow!("user {name}: {e}"))?,
        ],
        _ => tessera.list_users().await?,
    };
    match cmd {
        SessionCommand::List { .. } => {
            for u in &users {
                for d in tessera.list_devices(&u.id, CurrentLogin::None).await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        d.id,
                        d.kind.as_str(),
                        u.username,
                        d.created_at,
                        d.last_seen_at,
                        d.expires_at,
                        d.client.ip.as_deref().unwrap_or("-"),
                        d.client.user_agent.as_deref().unwrap_or("-"),
                    );
                }
            }
        }
        SessionCommand::Revoke { id } => {
            for u in &users {
                match tessera.end_device(&u.id, &id).await {
                    Ok(()) => return Ok(()),
                    Err(tessera_core::Error::NotFound) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            bail!("no live session or family {id}");
        }
    }
    Ok(())
}
