//! The data map: every table that holds platform data, with its data category, the
//! subject keys a record can be found by, the time column its retention counts from and
//! what erasure does to it. One list in code ([`TABLES`]); `GET /v1/data-map` shows it,
//! docs/DATA.md documents it, and a test fails when the database has a table the map does
//! not cover (or the map names one the database lacks), so the map stays true as the
//! product grows.

/// What kind of data a table holds; retention and holds are set per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A business's workspace and its connection settings.
    WorkspaceConfig,
    /// Meta business tokens and onboarding codes and PINs (sealed).
    MetaCredentials,
    /// Records of calls to Meta's Graph API (no bodies).
    GraphCallRecords,
    /// Webhook deliveries as Meta sent them (may hold customers' messages and numbers).
    WebhookPayloads,
    /// Delivery statuses of outbound messages.
    MessageStatuses,
    /// Customers' inbound messages and button replies.
    InboundMessages,
    /// Message templates and their review history.
    TemplateRecords,
    /// Workflow runs: inputs, outputs, steps, attempts, events, decisions, history.
    RunRecords,
    /// The audit ledger and its chain.
    AuditEvents,
    /// Staff members, their keys and roles.
    StaffAccess,
    /// What the engine needs to run: definitions, schedules, its job queue, migrations.
    EngineState,
    /// Legal holds, retention policies and what each sweep did.
    LegalRecords,
    /// Privacy requests (deletion, access, disconnect), their timelines and extensions.
    PrivacyRecords,
    /// A business's customers, their consent, appointments and reminders.
    CustomerRecords,
}

impl Category {
    /// Every category, in documentation order.
    pub const ALL: [Category; 14] = [
        Category::WorkspaceConfig,
        Category::MetaCredentials,
        Category::GraphCallRecords,
        Category::WebhookPayloads,
        Category::MessageStatuses,
        Category::InboundMessages,
        Category::TemplateRecords,
        Category::RunRecords,
        Category::AuditEvents,
        Category::StaffAccess,
        Category::EngineState,
        Category::LegalRecords,
        Category::PrivacyRecords,
        Category::CustomerRecords,
    ];

    /// The category with wire name `name`.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str() == name)
    }

    /// Every wire name, comma-separated (for error messages).
    pub fn names() -> String {
        Category::ALL.map(Category::as_str).join(", ")
    }

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::WorkspaceConfig => "workspace_config",
            Category::MetaCredentials => "meta_credentials",
            Category::GraphCallRecords => "graph_call_records",
            Category::WebhookPayloads => "webhook_payloads",
            Category::MessageStatuses => "message_statuses",
            Category::InboundMessages => "inbound_messages",
            Category::TemplateRecords => "template_records",
            Category::RunRecords => "run_records",
            Category::AuditEvents => "audit_events",
            Category::StaffAccess => "staff_access",
            Category::EngineState => "engine_state",
            Category::LegalRecords => "legal_records",
            Category::PrivacyRecords => "privacy_records",
            Category::CustomerRecords => "customer_records",
        }
    }
}

/// What a record can be found by, for a request about a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKey {
    /// The workspace (business account) it belongs to, in this column.
    Workspace(&'static str),
    /// A customer's WhatsApp id or phone number, in this column (or inside this JSON).
    Customer(&'static str),
    /// A staff member (person or key), in this column.
    Staff(&'static str),
    /// Through its run (`run_id`), whose `workspace_id` names the workspace.
    Run(&'static str),
}

/// What erasure does to a table's records of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// The rows are deleted.
    Delete,
    /// These columns are overwritten (hashed or nulled); the row stays for integrity.
    Anonymise(&'static [&'static str]),
    /// The sealed values are destroyed (set to null), which makes them unreadable.
    DestroyKey(&'static [&'static str]),
    /// Kept as a record, with the legal basis for keeping it.
    Keep(&'static str),
}

/// One table of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEntry {
    /// Schema-qualified name, e.g. `public.runs`.
    pub table: &'static str,
    /// Its category.
    pub category: Category,
    /// What its records can be found by.
    pub subject_keys: &'static [SubjectKey],
    /// The column retention counts from (`None`: kept while what it belongs to is kept).
    pub retention_from: Option<&'static str>,
    /// What erasure does.
    pub erasure: Erasure,
    /// What it holds, in a sentence.
    pub holds: &'static str,
    /// How its records' subjects are found, for the hold check, erasure and export
    /// (`None`: records of no business or customer).
    pub locate: Option<Locate>,
    /// Whether the retention sweep purges it (by `retention_from`, under its category's
    /// policy).
    pub swept: bool,
}

/// SQL expressions over a table's row (aliased `t`) that the hold check, the retention
/// sweep and erasure use: the workspace a record belongs to, the customers it is about,
/// text that may mention a customer, and which rows are settled (may be purged or erased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locate {
    /// The record's workspace id (`text`, may be null).
    pub workspace: &'static str,
    /// The customers (`wa_id`s) it is about (`text[]`).
    pub customers: &'static str,
    /// Text that may mention a customer (`text`, or `null`).
    pub mentions: &'static str,
    /// Settled rows (`true` for all), e.g. only finished runs; others are left alone.
    pub only: &'static str,
}

mod tables;
pub use tables::TABLES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_is_mapped_once_and_every_category_is_used() {
        let mut names: Vec<&str> = TABLES.iter().map(|entry| entry.table).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table is mapped twice");
        for category in Category::ALL {
            assert!(
                TABLES.iter().any(|entry| entry.category == category),
                "{} maps no table",
                category.as_str()
            );
        }
    }
}
