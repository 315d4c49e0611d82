//! What the WhatsApp handlers share: the pool, the Graph client, the token box, and the
//! translation of Graph errors into step failures.

use sqlx::PgPool;

use super::store;
use crate::engine::handlers::{HandlerCall, HandlerError};
use crate::meta::Handling;
use crate::meta::client::{CallContext, CallError, GraphClient};
use crate::security::secret_box::SecretBox;

/// Dependencies of the WhatsApp handlers.
#[derive(Debug, Clone)]
pub struct WhatsAppDeps {
    /// Database.
    pub pool: PgPool,
    /// Graph API (or the sandbox).
    pub graph: GraphClient,
    /// Seals and opens stored tokens and onboarding secrets.
    pub secrets: SecretBox,
}

impl WhatsAppDeps {
    /// The workspace a run works for (`input.workspace_id`).
    pub fn workspace_id(call: &HandlerCall) -> Result<String, HandlerError> {
        /// The part of every WhatsApp run's input that names its workspace.
        #[derive(serde::Deserialize)]
        struct WorkspaceInput {
            workspace_id: String,
        }
        Ok(call.input::<WorkspaceInput>()?.workspace_id)
    }

    /// Who a Graph call is made for.
    pub fn context(call: &HandlerCall, workspace_id: &str) -> CallContext {
        CallContext {
            workspace_id: Some(workspace_id.to_owned()),
            run_id: Some(call.run_id.uuid()),
            step_id: Some(call.step_id.clone()),
        }
    }

    /// The workspace's business token, decrypted.
    pub async fn token(&self, workspace_id: &str) -> Result<String, HandlerError> {
        let mut conn = self.pool.acquire().await?;
        let sealed = store::workspaces::token(&mut conn, workspace_id)
            .await?
            .ok_or_else(|| HandlerError::Fatal("the workspace has no access token yet".into()))?;
        self.secrets
            .open(&sealed)
            .map_err(|error| HandlerError::Fatal(error.to_string()))
    }

    /// The workspace's connected number (its phone number id), if it has one.
    pub async fn phone_number_id(
        &self,
        workspace_id: &str,
    ) -> Result<Option<String>, HandlerError> {
        Ok(self.connection(workspace_id).await?.1)
    }

    /// The workspace's WhatsApp Business Account and phone number ids, as far as known.
    pub async fn connection(
        &self,
        workspace_id: &str,
    ) -> Result<(Option<String>, Option<String>), HandlerError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::workspaces::get(&mut conn, workspace_id)
            .await?
            .map(|row| (row.waba_id, row.phone_number_id))
            .unwrap_or_default())
    }

    /// A Graph failure as a step failure. A 190 (token invalid or expired) anywhere marks
    /// the workspace `needs_reauth`: only Embedded Signup again can fix it.
    pub async fn graph_failure(&self, workspace_id: &str, error: CallError) -> HandlerError {
        match error.handling() {
            Handling::Retry | Handling::RateLimited(_) => {
                HandlerError::Retryable(error.to_string())
            }
            Handling::Permanent => HandlerError::Fatal(error.to_string()),
            Handling::NeedsReauth => {
                let reason = format!("Meta no longer accepts the access token ({error})");
                if let Ok(mut conn) = self.pool.acquire().await
                    && let Err(db) = store::workspaces::set_status(
                        &mut conn,
                        workspace_id,
                        "needs_reauth",
                        Some(&reason),
                    )
                    .await
                {
                    return HandlerError::storage(db);
                }
                HandlerError::Fatal(format!(
                    "{reason}; the business must connect again through Embedded Signup"
                ))
            }
        }
    }
}
