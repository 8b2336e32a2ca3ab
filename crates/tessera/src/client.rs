//! `tessera client add|list`.

use anyhow::Result;

use crate::cli::ClientCommand;
use crate::settings::Settings;

/// Runs one client command.
pub async fn run(settings: Settings, cmd: ClientCommand) -> Result<()> {
    let tessera = crate::wiring::tessera(&settings).await?;
    match cmd {
        ClientCommand::Add { id, confidential, scope } => {
            let (client, secret) = tessera.register_client(&id, confidential, &scope).await?;
            match secret {
                // The secret is not stored: this is the only time it exists in clear.
                Some(secret) => {
                    println!("{}", secret.expose());
                    eprintln!("client {} registered; its secret is printed once, above", client.id);
                }
                None => eprintln!("public client {} registered", client.id),
            }
        }
        ClientCommand::List => {
            for c in tessera.list_clients().await? {
                let kind = if c.is_confidential() { "confidential" } else { "public" };
                println!("{}\t{kind}\t{}\t{}", c.id, c.scope, c.created_at);
            }
        }
    }
    Ok(())
}
