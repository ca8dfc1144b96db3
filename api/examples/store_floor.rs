//! For `bench/history.sh`: the store's part of a request alone. `<workers>` tasks, each on a
//! connection of its own as user `bench-N`, run the same statement the API runs for a page read
//! (`store::messages::page` of conversation `…-8000-N`) or an append (`store::messages::append` to
//! `…-9000-N`) back to back for `<seconds>`, on the service's pool, runtime and allocator, and print
//! how many they ran. The script divides this process's CPU time by that: what sqlx and the
//! store's decoding cost per request, without HTTP, tokens, JSON or logs.
//!
//! Usage: `DATABASE_URL=… store_floor read|append <workers> <seconds>`.

use std::time::{Duration, Instant};

use chatplane_api::config::DatabaseSettings;
use chatplane_api::domain::{
    ConversationId, MessageContent, MessageStatus, PageSize, Role, Sources, UserId,
};
use chatplane_api::store::{self, Db, messages};

// The service's allocator, so that the floor is the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn conversation(kind: &str, n: usize) -> Result<ConversationId, String> {
    ConversationId::parse(&format!("00000000-0000-4000-{kind}-{n:012}"))
}

async fn run(db: Db, append: bool, n: usize, until: Instant) -> Result<u64, String> {
    let owner = UserId::parse(format!("bench-{n}"))?;
    let read_from = conversation("8000", n)?;
    let append_to = conversation("9000", n)?;
    let size = PageSize::parse(Some("50"), 50, 100)?;
    let mut done = 0;
    while Instant::now() < until {
        if append {
            let message = messages::NewMessage {
                role: Role::User,
                content: MessageContent::parse("benchmark message".into(), 100)?,
                sources: Sources::empty(),
                agent_type: None,
                status: MessageStatus::Complete,
            };
            let mut conn = db.acquire().await.map_err(|e| e.to_string())?;
            let slots = messages::Slots::one(i32::MAX);
            match messages::append(&mut conn, &owner, append_to, message, slots).await {
                Ok(messages::Appended::Stored(_)) => conn.done(),
                Ok(other) => return Err(format!("append: {other:?}")),
                Err(e) => return Err(e.to_string()),
            }
        } else {
            let page = messages::page(&db, &owner, read_from, size, None)
                .await
                .map_err(|e| e.to_string())?;
            if page.is_none_or(|rows| rows.is_empty()) {
                return Err(format!("no page for {owner:?}"));
            }
        }
        done += 1;
    }
    Ok(done)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let append = match args.next().as_deref() {
        Some("read") => false,
        Some("append") => true,
        _ => return Err("usage: store_floor read|append <workers> <seconds>".into()),
    };
    let workers: usize = args.next().ok_or("missing <workers>")?.parse()?;
    let seconds: u64 = args.next().ok_or("missing <seconds>")?.parse()?;
    let db = store::db(&DatabaseSettings {
        url: std::env::var("DATABASE_URL")?.into(),
        max_connections: u32::try_from(workers)?,
    })?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(run(db.clone(), append, n, until)))
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    println!("{total}");
    Ok(())
}
