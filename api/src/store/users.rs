use super::Db;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Profile, UserId};

#[derive(Debug, Serialize)]
pub struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts the user, or updates the profile only when it changed (no dead tuples otherwise).
pub async fn upsert(db: &Db, id: &UserId, profile: &Profile) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO users (id, email, name, image) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE
            SET email = EXCLUDED.email, name = EXCLUDED.name, image = EXCLUDED.image,
                updated_at = now()
          WHERE (users.email, users.name, users.image)
                IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.name, EXCLUDED.image)",
        id.as_ref(),
        profile.email.as_deref(),
        profile.name.as_deref(),
        profile.image.as_deref(),
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, image, created_at, updated_at FROM users WHERE id = $1",
        id.as_ref(),
    )
    .fetch_optional(db)
    .await
}

/// Erases the user's row and, by cascade, every conversation and message of theirs.
pub async fn delete(db: &Db, id: &UserId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM users WHERE id = $1", id.as_ref())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
