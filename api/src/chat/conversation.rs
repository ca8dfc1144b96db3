use crate::auth::AuthUser;
use crate::context::ApiContext;
use crate::domain::Title;
use crate::error::ApiError;
use crate::store;
use crate::store::conversations::ConversationRow;

/// Creates a conversation for the caller; if another replica erased the caller's row since
/// this one synced it, the row is written again and the insert retried once.
pub async fn start_conversation(
    ctx: &ApiContext,
    user: &AuthUser,
    title: &Title,
) -> Result<ConversationRow, ApiError> {
    match store::conversations::create(&ctx.db, &user.id, title).await {
        Err(e) if store::violates(&e, store::conversations::USER_FK) => {
            ctx.auth.users().write(user).await?;
            store::conversations::create(&ctx.db, &user.id, title)
                .await
                .map_err(ApiError::from)
        }
        other => other.map_err(ApiError::from),
    }
}
