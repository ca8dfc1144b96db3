use std::future::Future;

use crate::auth::AuthUser;
use crate::context::ApiContext;
use crate::domain::Title;
use crate::error::ApiError;
use crate::store;
use crate::store::conversations::ConversationRow;

/// Creates a conversation for the caller.
pub async fn start_conversation(
    ctx: &ApiContext,
    user: &AuthUser,
    title: &Title,
) -> Result<ConversationRow, ApiError> {
    with_user_row(ctx, user, || {
        store::conversations::create(&ctx.db, &user.id, title)
    })
    .await
}

/// The caller's conversation bound to a client session key, created (titled `title`) on the
/// key's first use.
pub async fn conversation_for_key(
    ctx: &ApiContext,
    user: &AuthUser,
    key: &str,
    title: &Title,
) -> Result<ConversationRow, ApiError> {
    with_user_row(ctx, user, || async {
        let mut conn = ctx.db.acquire().await?;
        let row = store::conversations::for_client_key(&mut conn, &user.id, key, title).await?;
        conn.done();
        Ok(row)
    })
    .await
}

/// Runs an insert of a row that references the caller's user row; if another replica erased
/// that row since this one synced it, the row is written again and the insert retried once.
pub(super) async fn with_user_row<T, F, Fut>(
    ctx: &ApiContext,
    user: &AuthUser,
    insert: F,
) -> Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    match insert().await {
        Err(e)
            if store::violates(&e, store::conversations::USER_FK)
                || store::violates(&e, store::idempotency::USER_FK) =>
        {
            ctx.auth.users().write(user).await?;
            Ok(insert().await?)
        }
        other => Ok(other?),
    }
}
