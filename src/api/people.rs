//! `/v1/people`: the people keys belong to, for admins. Separation of duties compares
//! people, so each person gets one handle and every key of theirs acts under it.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::ApiKey;
use super::keys::KeyView;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::security::people::{self, PersonRow};
use crate::security::{Permission, PersonId};

/// A person to make.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CreatePersonRequest {
    /// Unique handle, recorded as the actor of what their keys do: lower-case letters,
    /// digits, `.`, `_`, `-`; the service's own names (`engine`, `bootstrap`, …) are taken.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"))]
    pub handle: String,
}

impl Example for CreatePersonRequest {
    fn example() -> Self {
        Self {
            handle: "lee.compliance".into(),
        }
    }
}

/// A person.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PersonView {
    /// Id (pass as `person_id` to give them a key).
    pub id: Uuid,
    /// Handle.
    pub handle: String,
    /// Who made the person.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Their keys the caller may see (in a single person's view only).
    pub keys: Option<Vec<KeyView>>,
}

impl Example for PersonView {
    fn example() -> Self {
        Self {
            id: Uuid::parse_str("01937a4e-0000-7000-8000-00000000da7a").unwrap_or_default(),
            handle: "lee.compliance".into(),
            created_by: "admin".into(),
            created_at: DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
                .map(|at| at.with_timezone(&Utc))
                .unwrap_or_default(),
            keys: None,
        }
    }
}

impl From<PersonRow> for PersonView {
    fn from(row: PersonRow) -> Self {
        Self {
            id: row.id.uuid(),
            handle: row.handle,
            created_by: row.created_by,
            created_at: row.created_at,
            keys: None,
        }
    }
}

/// People.
#[derive(Debug, Object)]
pub struct PersonList {
    /// Oldest first.
    pub items: Vec<PersonView>,
}

#[derive(ApiResponse)]
enum CreatePersonResponse {
    /// Made; give them keys with `person_id`.
    #[oai(status = 201)]
    Created(Json<PersonView>),
}

/// The people resource.
pub struct PeopleApi {
    /// The engine (for its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Keys")]
impl PeopleApi {
    /// Make a person
    ///
    /// A person without keys yet. Only an admin of every workspace may; a key made without
    /// `person_id` makes its person by itself.
    #[oai(path = "/v1/people", method = "post", operation_id = "create_person")]
    async fn create(
        &self,
        auth: ApiKey,
        body: Json<CreatePersonRequest>,
    ) -> Result<CreatePersonResponse, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let row = people::create(self.engine.pool(), caller, &body.0.handle).await?;
        Ok(CreatePersonResponse::Created(Json(row.into())))
    }

    /// List people
    ///
    /// Every person (a workspace-confined admin: those holding keys of its workspace).
    #[oai(path = "/v1/people", method = "get", operation_id = "list_people")]
    async fn list(&self, auth: ApiKey) -> Result<Json<PersonList>, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let rows = people::list(self.engine.pool(), caller).await?;
        Ok(Json(PersonList {
            items: rows.into_iter().map(PersonView::from).collect(),
        }))
    }

    /// Get a person
    ///
    /// With the keys of theirs the caller may see.
    #[oai(path = "/v1/people/:id", method = "get", operation_id = "get_person")]
    async fn get(&self, auth: ApiKey, id: Path<Uuid>) -> Result<Json<PersonView>, ApiError> {
        let caller = auth.require(Permission::ManageKeys)?;
        let (person, keys) = people::get(self.engine.pool(), caller, PersonId::from(id.0)).await?;
        let mut view = PersonView::from(person);
        view.keys = Some(keys.into_iter().map(KeyView::from).collect());
        Ok(Json(view))
    }
}
