//! `tessera key list|rotate`.

use anyhow::Result;
use tessera_core::Timestamp;
use tessera_core::signing_key::state_name;

use crate::cli::KeyCommand;
use crate::settings::Settings;

/// Runs one key command.
pub async fn run(settings: Settings, cmd: KeyCommand) -> Result<()> {
    let tessera = crate::wiring::tessera(&settings).await?;
    match cmd {
        KeyCommand::List => {
            let show =
                |t: Option<i64>| t.map_or("-".to_owned(), |t| Timestamp::from_unix(t).to_string());
            for k in tessera.key_ring().keys() {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.key().kid(),
                    k.key().algorithm().jose_name(),
                    state_name(k.state()),
                    show(Some(k.created_at())),
                    show(k.activated_at()),
                    show(k.retired_at()),
                );
            }
        }
        KeyCommand::Rotate => println!("{}", tessera.rotate_keys().await?),
    }
    Ok(())
}
