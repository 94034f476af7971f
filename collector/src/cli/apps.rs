//! `usagelens-collector apps …`: create, list, update origins, rotate keys, delete.

use clap::Subcommand;

use crate::apps;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub(super) enum AppsCommand {
    /// Create an app; prints {"id","write_key","read_token"}. The read token is shown only now.
    Create {
        /// App id: ^[a-z0-9][a-z0-9_-]{0,63}$
        id: String,
        /// A browser origin allowed to send events (scheme://host[:port], or *). Repeatable.
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// List apps as JSON (ids, write keys, origins; never read tokens).
    List,
    /// Change an app's allowed origins; prints the app as `list` does.
    /// Running collectors see it within their --app-cache-ttl (default 5s).
    Update {
        /// App id.
        id: String,
        /// The new list of allowed origins (replaces it). Repeatable.
        #[arg(long = "origin", conflicts_with_all = ["add", "remove"])]
        origins: Vec<String>,
        /// An origin to allow as well (scheme://host[:port], or *). Repeatable.
        #[arg(long = "add-origin")]
        add: Vec<String>,
        /// An origin to stop allowing. Repeatable.
        #[arg(long = "remove-origin")]
        remove: Vec<String>,
    },
    /// Issue a new write key (or, with --read-token, a new read token).
    RotateKey {
        /// App id.
        id: String,
        /// Rotate the read token instead of the write key.
        #[arg(long)]
        read_token: bool,
    },
    /// Delete an app and its catalog (its events stay unless --purge-events).
    Delete {
        /// App id.
        id: String,
        /// Delete the app's events too.
        #[arg(long)]
        purge_events: bool,
    },
}

pub(super) async fn run(store: &Store, cmd: AppsCommand) -> anyhow::Result<()> {
    let out = match cmd {
        AppsCommand::Create { id, origins } => {
            serde_json::to_value(apps::create(store, &id, &origins).await?)?
        }
        AppsCommand::List => serde_json::to_value(apps::list(store).await?)?,
        AppsCommand::Update {
            id,
            origins,
            add,
            remove,
        } => {
            let update = apps::OriginsUpdate {
                set: origins,
                add,
                remove,
            };
            serde_json::to_value(apps::update_origins(store, &id, &update).await?)?
        }
        AppsCommand::RotateKey {
            id,
            read_token: false,
        } => {
            serde_json::json!({ "id": id, "write_key": apps::rotate_write_key(store, &id).await? })
        }
        AppsCommand::RotateKey {
            id,
            read_token: true,
        } => {
            serde_json::json!({ "id": id, "read_token": apps::rotate_read_token(store, &id).await? })
        }
        AppsCommand::Delete { id, purge_events } => {
            let purged = apps::delete(store, &id, purge_events).await?;
            serde_json::json!({ "id": id, "deleted": true, "events_deleted": purged })
        }
    };
    println!("{out}");
    Ok(())
}
