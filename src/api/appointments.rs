//! `/v1/workspaces/{id}/customers`, `…/appointments` and `…/reminder-policy`: a
//! business's customers and their consent, its appointments with their reminders, and
//! its default reminder policy (bodies and views in [`super::appointment_views`]). Calls
//! the reminders domain's commands ([`crate::reminders`]).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::appointment_views::{
    AppointmentBody, AppointmentView, ConsentBody, ConsentKind, ConsentRequest, CustomerBody,
    CustomerProfileView, ReminderPolicyBody, ReminderPolicyView, RescheduleBody,
};
use super::auth::ApiKey;
use super::problem::ApiError;
use crate::engine::Engine;
use crate::reminders::ReminderError;
use crate::reminders::appointments::{self, CustomerRef, NewAppointment};
use crate::reminders::customers::{self, ConsentInput, NewCustomer};
use crate::security::Permission;

impl From<ReminderError> for ApiError {
    fn from(error: ReminderError) -> Self {
        match error {
            ReminderError::Invalid(problems) => {
                ApiError::invalid("invalid-request", "The request is not valid", problems)
            }
            ReminderError::NotFound(what, _) => {
                ApiError::not_found(&format!("{what}-not-found"), error.to_string())
            }
            ReminderError::WorkspaceNotFound(_) => {
                ApiError::not_found("workspace-not-found", error.to_string())
            }
            ReminderError::Conflict(kind, detail) => ApiError::conflict(kind, detail),
            ReminderError::Engine(error) => error.into(),
            ReminderError::Database(error) => error.into(),
        }
    }
}

fn consent(body: ConsentBody) -> ConsentInput {
    ConsentInput {
        at: body.at,
        method: body.method,
        wording: body.wording,
    }
}

#[derive(ApiResponse)]
enum CustomerCreated {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<CustomerProfileView>),
}

#[derive(ApiResponse)]
enum AppointmentBooked {
    /// Booked; its reminders are planned and its run started.
    #[oai(status = 201)]
    Created(Json<AppointmentView>),
}

/// A page of customers.
#[derive(Debug, Object)]
pub struct CustomerPage {
    /// Newest first.
    pub items: Vec<CustomerProfileView>,
}

/// A page of appointments.
#[derive(Debug, Object)]
pub struct AppointmentPage {
    /// By start.
    pub items: Vec<AppointmentView>,
}

/// The appointments resource.
pub struct AppointmentsApi {
    /// The engine (appointment runs, and its pool).
    pub engine: Engine,
}

#[OpenApi(tag = "ApiTags::Appointments")]
impl AppointmentsApi {
    /// Register a customer
    ///
    /// A customer of the workspace, reached on WhatsApp by `wa_id` or `phone`, with the
    /// IANA time zone their reminders are planned in, and their opt-in (when, how, the
    /// wording) when given: no reminder is sent without one. 409 `customer-exists`.
    #[oai(
        path = "/v1/workspaces/:id/customers",
        method = "post",
        operation_id = "register_customer"
    )]
    async fn register(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<CustomerBody>,
    ) -> Result<CustomerCreated, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let body = body.0;
        let new = NewCustomer {
            wa_id: body.wa_id,
            phone: body.phone,
            name: body.name,
            timezone: body.timezone,
            language: body.language,
            opt_in: body.opt_in.map(consent),
        };
        let detail = customers::register(self.engine.pool(), caller, &id.0, &new).await?;
        Ok(CustomerCreated::Created(Json(detail.into())))
    }

    /// List customers
    #[oai(
        path = "/v1/workspaces/:id/customers",
        method = "get",
        operation_id = "list_customers"
    )]
    async fn list_customers(
        &self,
        auth: ApiKey,
        id: Path<String>,
        /// At most this many (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<CustomerPage>, ApiError> {
        let caller = auth.require(Permission::ReadAppointments)?;
        let rows = customers::list(
            self.engine.pool(),
            caller,
            &id.0,
            i64::from(limit.0.unwrap_or(50)),
        )
        .await?;
        Ok(Json(CustomerPage {
            items: rows.into_iter().map(Into::into).collect(),
        }))
    }

    /// Get a customer
    ///
    /// With every opt-in and opt-out recorded.
    #[oai(
        path = "/v1/workspaces/:id/customers/:customer_id",
        method = "get",
        operation_id = "get_customer"
    )]
    async fn get_customer(
        &self,
        auth: ApiKey,
        id: Path<String>,
        customer_id: Path<Uuid>,
    ) -> Result<Json<CustomerProfileView>, ApiError> {
        let caller = auth.require(Permission::ReadAppointments)?;
        let detail = customers::get(self.engine.pool(), caller, &id.0, customer_id.0).await?;
        Ok(Json(detail.into()))
    }

    /// Record a customer's opt-in or opt-out
    ///
    /// An opt-in needs the wording the customer agreed to; an opt-out stops every
    /// reminder not yet sent.
    #[oai(
        path = "/v1/workspaces/:id/customers/:customer_id/consent",
        method = "post",
        operation_id = "record_customer_consent"
    )]
    async fn consent(
        &self,
        auth: ApiKey,
        id: Path<String>,
        customer_id: Path<Uuid>,
        body: Json<ConsentRequest>,
    ) -> Result<Json<CustomerProfileView>, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let body = body.0;
        let detail = customers::record_consent(
            self.engine.pool(),
            caller,
            &id.0,
            customer_id.0,
            body.kind == ConsentKind::OptIn,
            &consent(body.consent),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Get the workspace's reminder policy
    ///
    /// What appointments booked from now on are reminded by (24 h and 2 h before,
    /// `appointment_reminder`, quiet 21:00–08:00, unless the workspace set its own).
    #[oai(
        path = "/v1/workspaces/:id/reminder-policy",
        method = "get",
        operation_id = "get_reminder_policy"
    )]
    async fn get_policy(
        &self,
        auth: ApiKey,
        id: Path<String>,
    ) -> Result<Json<ReminderPolicyView>, ApiError> {
        let caller = auth.require(Permission::ReadAppointments)?;
        let policy = crate::reminders::policy::policy(self.engine.pool(), caller, &id.0).await?;
        Ok(Json(policy.into()))
    }

    /// Set the workspace's reminder policy
    ///
    /// Fields left out keep their value. Appointments already booked keep the policy
    /// they were booked under.
    #[oai(
        path = "/v1/workspaces/:id/reminder-policy",
        method = "put",
        operation_id = "set_reminder_policy"
    )]
    async fn set_policy(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<ReminderPolicyBody>,
    ) -> Result<Json<ReminderPolicyView>, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let policy =
            crate::reminders::policy::set_policy(self.engine.pool(), caller, &id.0, &body.0.into())
                .await?;
        Ok(Json(policy.into()))
    }

    /// Book an appointment
    ///
    /// Its reminders are planned on the customer's clock and sent by its run. 422 names
    /// the field: a start in the past, an offset already past, a template not APPROVED,
    /// a customer not registered or not opted in; nothing is stored then.
    #[oai(
        path = "/v1/workspaces/:id/appointments",
        method = "post",
        operation_id = "book_appointment"
    )]
    async fn book(
        &self,
        auth: ApiKey,
        id: Path<String>,
        body: Json<AppointmentBody>,
    ) -> Result<AppointmentBooked, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let body = body.0;
        let new = NewAppointment {
            customer: CustomerRef {
                id: body.customer.id,
                wa_id: body.customer.wa_id,
                phone: body.customer.phone,
            },
            start_at: body.start_at,
            duration: body.duration,
            external_ref: body.external_ref,
            reminders: body.reminders.map(Into::into),
        };
        let detail = appointments::book(&self.engine, caller, &id.0, &new).await?;
        Ok(AppointmentBooked::Created(Json(detail.into())))
    }

    /// List appointments
    ///
    /// By start; `status`, and a start range `from` (inclusive) to `to` (exclusive).
    #[oai(
        path = "/v1/workspaces/:id/appointments",
        method = "get",
        operation_id = "list_appointments"
    )]
    async fn list(
        &self,
        auth: ApiKey,
        id: Path<String>,
        /// `booked` or `cancelled`.
        #[oai(validator(max_length = 20))]
        status: Query<Option<String>>,
        /// Starting at or after.
        from: Query<Option<DateTime<Utc>>>,
        /// Starting before.
        to: Query<Option<DateTime<Utc>>>,
        /// At most this many (1 to 200, default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AppointmentPage>, ApiError> {
        let caller = auth.require(Permission::ReadAppointments)?;
        let rows = appointments::list(
            self.engine.pool(),
            caller,
            &id.0,
            status.0.as_deref(),
            (from.0, to.0),
            i64::from(limit.0.unwrap_or(50)),
        )
        .await?;
        Ok(Json(AppointmentPage {
            items: rows.into_iter().map(Into::into).collect(),
        }))
    }

    /// Get an appointment
    ///
    /// With each reminder's planned time, state, message id and delivery.
    #[oai(
        path = "/v1/workspaces/:id/appointments/:appointment_id",
        method = "get",
        operation_id = "get_appointment"
    )]
    async fn get(
        &self,
        auth: ApiKey,
        id: Path<String>,
        appointment_id: Path<Uuid>,
    ) -> Result<Json<AppointmentView>, ApiError> {
        let caller = auth.require(Permission::ReadAppointments)?;
        let detail = appointments::get(self.engine.pool(), caller, &id.0, appointment_id.0).await?;
        Ok(Json(detail.into()))
    }

    /// Reschedule an appointment
    ///
    /// The same run plans its reminders again for the new start; one already sent is not
    /// sent again. 409 `appointment-cancelled`.
    #[oai(
        path = "/v1/workspaces/:id/appointments/:appointment_id",
        method = "patch",
        operation_id = "reschedule_appointment"
    )]
    async fn reschedule(
        &self,
        auth: ApiKey,
        id: Path<String>,
        appointment_id: Path<Uuid>,
        body: Json<RescheduleBody>,
    ) -> Result<Json<AppointmentView>, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let detail = appointments::reschedule(
            &self.engine,
            caller,
            &id.0,
            appointment_id.0,
            body.0.start_at,
            body.0.duration.as_deref(),
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Cancel an appointment
    ///
    /// Pending reminders stop; the cancellation template goes out when the policy names
    /// one. 409 `appointment-cancelled`.
    #[oai(
        path = "/v1/workspaces/:id/appointments/:appointment_id/cancel",
        method = "post",
        operation_id = "cancel_appointment"
    )]
    async fn cancel(
        &self,
        auth: ApiKey,
        id: Path<String>,
        appointment_id: Path<Uuid>,
    ) -> Result<Json<AppointmentView>, ApiError> {
        let caller = auth.require(Permission::ManageAppointments)?;
        let detail = appointments::cancel(&self.engine, caller, &id.0, appointment_id.0).await?;
        Ok(Json(detail.into()))
    }
}
