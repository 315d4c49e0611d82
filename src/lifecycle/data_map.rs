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
}

impl Category {
    /// Every category, in documentation order.
    pub const ALL: [Category; 13] = [
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

/// Why the audit ledger is kept whole: it is the record that controls were followed.
const LEDGER_BASIS: &str = "accountability record of who did what (GDPR Art 5(2), 30); holds ids and hashes only; \
     an erasure never removes an entry, it adds one";

use Category as C;
use Erasure as E;
use SubjectKey as K;

/// Every table of the platform's database.
pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "public.workspaces",
        category: C::WorkspaceConfig,
        subject_keys: &[K::Workspace("id")],
        retention_from: Some("updated_at"),
        erasure: E::Anonymise(&[
            "name",
            "business_id",
            "waba_id",
            "phone_number_id",
            "display_phone_number",
            "status_reason",
            "access_token_sealed",
        ]),
        locate: Some(Locate {
            workspace: "t.id",
            customers: "'{}'::text[]",
            mentions: "null",
            only: "t.status = 'closed'",
        }),
        swept: false,
        holds: "a business's workspace: name, status, WhatsApp account and number ids, the sealed token",
    },
    TableEntry {
        table: "public.onboarding_secrets",
        category: C::MetaCredentials,
        subject_keys: &[K::Workspace("workspace_id")],
        retention_from: Some("created_at"),
        erasure: E::Delete,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "'{}'::text[]",
            mentions: "null",
            only: "true",
        }),
        swept: false,
        holds: "an onboarding's sealed Embedded Signup code and PIN, while it runs",
    },
    TableEntry {
        table: "public.graph_calls",
        category: C::GraphCallRecords,
        subject_keys: &[K::Workspace("workspace_id"), K::Run("run_id")],
        retention_from: Some("at"),
        erasure: E::Delete,
        swept: true,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "'{}'::text[]",
            mentions: "null",
            only: "true",
        }),
        holds: "one row per Graph API call: operation, status, error code, duration (no bodies)",
    },
    TableEntry {
        table: "public.webhook_events",
        category: C::WebhookPayloads,
        subject_keys: &[K::Workspace("workspace_id"), K::Customer("customers")],
        retention_from: Some("received_at"),
        erasure: E::Delete,
        swept: true,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "t.customers",
            mentions: "null",
            only: "t.processed_at is not null",
        }),
        holds: "signed webhook deliveries as received (message texts, customer numbers)",
    },
    TableEntry {
        table: "public.message_statuses",
        category: C::MessageStatuses,
        subject_keys: &[K::Workspace("workspace_id"), K::Customer("recipient_id")],
        retention_from: Some("updated_at"),
        erasure: E::Delete,
        swept: true,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "array[t.recipient_id]",
            mentions: "null",
            only: "true",
        }),
        holds: "the latest delivery status of each outbound message",
    },
    TableEntry {
        table: "public.inbound_messages",
        category: C::InboundMessages,
        subject_keys: &[K::Workspace("workspace_id"), K::Customer("from_number")],
        retention_from: Some("received_at"),
        erasure: E::Delete,
        swept: true,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "array[t.from_number]",
            mentions: "null",
            only: "true",
        }),
        holds: "customers' inbound messages and button replies",
    },
    TableEntry {
        table: "public.whatsapp_templates",
        category: C::TemplateRecords,
        subject_keys: &[K::Workspace("workspace_id")],
        retention_from: Some("updated_at"),
        erasure: E::Delete,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "'{}'::text[]",
            mentions: "null",
            only: "true",
        }),
        swept: false,
        holds: "message templates as Meta knows them",
    },
    TableEntry {
        table: "public.template_events",
        category: C::TemplateRecords,
        subject_keys: &[K::Workspace(
            "template_id -> whatsapp_templates.workspace_id",
        )],
        retention_from: Some("at"),
        erasure: E::Delete,
        swept: true,
        locate: Some(Locate {
            workspace: "(select x.workspace_id from whatsapp_templates x where x.id = t.template_id)",
            customers: "'{}'::text[]",
            mentions: "null",
            only: "true",
        }),
        holds: "each status a template had, with its source",
    },
    TableEntry {
        table: "public.runs",
        category: C::RunRecords,
        subject_keys: &[
            K::Workspace("workspace_id"),
            K::Staff("initiator"),
            K::Customer("input"),
        ],
        retention_from: Some("finished_at"),
        erasure: E::Anonymise(&[
            "input",
            "context",
            "error",
            "cancel_reason",
            "idempotency_key",
            "idempotency_scope",
        ]),
        swept: true,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "'{}'::text[]",
            mentions: "t.input::text",
            only: "t.finished_at is not null",
        }),
        holds: "workflow runs: input, context, status, initiator",
    },
    TableEntry {
        table: "public.run_steps",
        category: C::RunRecords,
        subject_keys: &[K::Run("run_id")],
        retention_from: Some("finished_at"),
        erasure: E::Anonymise(&["output", "error"]),
        locate: Some(Locate {
            workspace: "(select r.workspace_id from runs r where r.id = t.run_id)",
            customers: "'{}'::text[]",
            mentions: "(select r.input::text from runs r where r.id = t.run_id)",
            only: "exists (select 1 from runs r where r.id = t.run_id and r.finished_at is not null)",
        }),
        swept: false,
        holds: "each visit of a step: status, outcome, output, error",
    },
    TableEntry {
        table: "public.step_attempts",
        category: C::RunRecords,
        subject_keys: &[K::Run("run_id")],
        retention_from: Some("finished_at"),
        erasure: E::Anonymise(&["output", "error"]),
        locate: Some(Locate {
            workspace: "(select r.workspace_id from runs r where r.id = t.run_id)",
            customers: "'{}'::text[]",
            mentions: "(select r.input::text from runs r where r.id = t.run_id)",
            only: "exists (select 1 from runs r where r.id = t.run_id and r.finished_at is not null)",
        }),
        swept: false,
        holds: "each attempt of a task step: worker, outcome, output, error",
    },
    TableEntry {
        table: "public.run_events",
        category: C::RunRecords,
        subject_keys: &[K::Run("run_id")],
        retention_from: Some("received_at"),
        erasure: E::Anonymise(&["payload", "correlation"]),
        locate: Some(Locate {
            workspace: "(select r.workspace_id from runs r where r.id = t.run_id)",
            customers: "'{}'::text[]",
            mentions: "(select r.input::text from runs r where r.id = t.run_id)",
            only: "exists (select 1 from runs r where r.id = t.run_id and r.finished_at is not null)",
        }),
        swept: false,
        holds: "events posted to runs, with their payloads",
    },
    TableEntry {
        table: "public.step_decisions",
        category: C::RunRecords,
        subject_keys: &[K::Run("run_id"), K::Staff("actor")],
        retention_from: Some("decided_at"),
        erasure: E::Anonymise(&["reason"]),
        locate: Some(Locate {
            workspace: "(select r.workspace_id from runs r where r.id = t.run_id)",
            customers: "'{}'::text[]",
            mentions: "(select r.input::text from runs r where r.id = t.run_id)",
            only: "exists (select 1 from runs r where r.id = t.run_id and r.finished_at is not null)",
        }),
        swept: false,
        holds: "approval decisions: who, which role, approve or reject, the reason",
    },
    TableEntry {
        table: "public.run_history",
        category: C::RunRecords,
        subject_keys: &[K::Run("run_id"), K::Staff("actor")],
        retention_from: Some("at"),
        erasure: E::Anonymise(&["data"]),
        locate: Some(Locate {
            workspace: "(select r.workspace_id from runs r where r.id = t.run_id)",
            customers: "'{}'::text[]",
            mentions: "(select r.input::text from runs r where r.id = t.run_id)",
            only: "exists (select 1 from runs r where r.id = t.run_id and r.finished_at is not null)",
        }),
        swept: false,
        holds: "every state change of a run",
    },
    TableEntry {
        table: "public.audit_ledger",
        category: C::AuditEvents,
        subject_keys: &[K::Workspace("workspace_id"), K::Staff("actor")],
        retention_from: None,
        erasure: E::Keep(LEDGER_BASIS),
        locate: None,
        swept: false,
        holds: "the audit ledger's entries (ids and hashes, never personal data)",
    },
    TableEntry {
        table: "public.audit_chain",
        category: C::AuditEvents,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep(LEDGER_BASIS),
        locate: None,
        swept: false,
        holds: "the hash chain over the ledger's entries",
    },
    TableEntry {
        table: "public.audit_unchained",
        category: C::AuditEvents,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep(LEDGER_BASIS),
        locate: None,
        swept: false,
        holds: "ledger entries waiting to be chained (briefly)",
    },
    TableEntry {
        table: "public.audit_head",
        category: C::AuditEvents,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep(LEDGER_BASIS),
        locate: None,
        swept: false,
        holds: "the chain's end: one row",
    },
    TableEntry {
        table: "public.staff",
        category: C::StaffAccess,
        subject_keys: &[K::Staff("id")],
        retention_from: None,
        erasure: E::Keep(
            "handles are the actors of the ledger and of decisions; a handle holds no name by rule",
        ),
        locate: None,
        swept: false,
        holds: "the people keys belong to: a handle each",
    },
    TableEntry {
        table: "public.api_keys",
        category: C::StaffAccess,
        subject_keys: &[K::Staff("person_id"), K::Workspace("workspace_id")],
        retention_from: Some("revoked_at"),
        erasure: E::Keep(
            "who held which access when; the token itself is never stored, only its hash",
        ),
        locate: None,
        swept: false,
        holds: "API keys: name, role, workspace, the token's SHA-256 and prefix, approvals",
    },
    TableEntry {
        table: "public.legal_holds",
        category: C::LegalRecords,
        subject_keys: &[
            K::Workspace("workspace_id"),
            K::Customer("customers"),
            K::Staff("placed_by"),
        ],
        retention_from: None,
        erasure: E::Keep(
            "the record of what was preserved and why, for the legal claims and obligations it serves (GDPR Art 17(3)(b), (e))",
        ),
        locate: None,
        swept: false,
        holds: "legal holds: kind, scope (workspace, customers, categories, time range), reason, matter, who placed and released them",
    },
    TableEntry {
        table: "public.retention_policies",
        category: C::LegalRecords,
        subject_keys: &[K::Staff("updated_by")],
        retention_from: None,
        erasure: E::Keep("the retention rules in force; no personal data"),
        locate: None,
        swept: false,
        holds: "overrides of the default retention per category and workspace status",
    },
    TableEntry {
        table: "public.retention_sweep_counts",
        category: C::LegalRecords,
        subject_keys: &[K::Workspace("workspace_id"), K::Run("run_id")],
        retention_from: None,
        erasure: E::Keep("the proof of what each sweep deleted; counts only"),
        locate: None,
        swept: false,
        holds: "per sweep, table and workspace: rows deleted, anonymised and held (with the hold ids)",
    },
    TableEntry {
        table: "public.erasure_tallies",
        category: C::LegalRecords,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep("counts per erasure and table; no personal data"),
        locate: None,
        swept: false,
        holds: "what each erasure changed so far, per table (so a resumed erasure counts each row once)",
    },
    TableEntry {
        table: "public.hold_waits",
        category: C::LegalRecords,
        subject_keys: &[K::Run("run_id")],
        retention_from: None,
        erasure: E::Keep("ids only; a wait is removed when its holds are released"),
        locate: None,
        swept: false,
        holds: "runs waiting until the legal holds named are released or expire",
    },
    TableEntry {
        table: "public.privacy_requests",
        category: C::PrivacyRecords,
        subject_keys: &[
            K::Workspace("workspace_id"),
            K::Customer("customer"),
            K::Staff("filed_by"),
        ],
        retention_from: Some("closed_at"),
        erasure: E::Keep(
            "the record of the request and its answer (GDPR Art 5(2), 12; CCPA regs § 7101); a completed deletion erases the customer's number and the requester's name and contact from it, keeping the number's SHA-256",
        ),
        locate: None,
        swept: false,
        holds: "deletion, access and disconnect requests: kind, mode, subject, requester, jurisdiction, deadlines, status, verification, denial reason, held ids, receipts",
    },
    TableEntry {
        table: "public.privacy_request_events",
        category: C::PrivacyRecords,
        subject_keys: &[K::Staff("actor")],
        retention_from: Some("at"),
        erasure: E::Keep(
            "the request's timeline: ids, rules and people's handles, no personal data of the subject",
        ),
        locate: None,
        swept: false,
        holds: "each request's timeline: filed, verified, decisions, hold waits, receipts, closing",
    },
    TableEntry {
        table: "public.privacy_verification_codes",
        category: C::PrivacyRecords,
        subject_keys: &[],
        retention_from: Some("created_at"),
        erasure: E::Keep(
            "keyed digests of one-time codes, their expiry and attempts; no code and no number",
        ),
        locate: None,
        swept: false,
        holds: "the one-time codes sent to verify requesters: keyed digest, expiry, attempts, status, message id",
    },
    TableEntry {
        table: "public.privacy_packages",
        category: C::PrivacyRecords,
        subject_keys: &[K::Workspace("workspace_id"), K::Customer("customer")],
        retention_from: Some("created_at"),
        erasure: E::Delete,
        locate: Some(Locate {
            workspace: "t.workspace_id",
            customers: "array_remove(array[t.customer], null)",
            mentions: "null",
            only: "true",
        }),
        swept: false,
        holds: "access requests' export packages: a manifest with each file's SHA-256, the files (deleted when the link expires or is used up, or after 30 days without one), the link's keyed digest",
    },
    TableEntry {
        table: "public.privacy_extensions",
        category: C::PrivacyRecords,
        subject_keys: &[K::Staff("extended_by")],
        retention_from: Some("extended_at"),
        erasure: E::Keep("the proof that a deadline was extended lawfully: reason and notice time"),
        locate: None,
        swept: false,
        holds: "deadline extensions: from and to, reason, when the requester was told, who",
    },
    TableEntry {
        table: "public.workflow_definitions",
        category: C::EngineState,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep("runs are pinned to the definition they started with"),
        locate: None,
        swept: false,
        holds: "every version of every workflow definition",
    },
    TableEntry {
        table: "public.schedules",
        category: C::EngineState,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep("the last tick of each schedule; no personal data"),
        locate: None,
        swept: false,
        holds: "each recurring schedule's last tick",
    },
    TableEntry {
        table: "public._sqlx_migrations",
        category: C::EngineState,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep("which migrations ran; no personal data"),
        locate: None,
        swept: false,
        holds: "the schema's migration history",
    },
    TableEntry {
        table: "apalis._sqlx_migrations",
        category: C::EngineState,
        subject_keys: &[],
        retention_from: None,
        erasure: E::Keep("which of the queue's migrations ran; no personal data"),
        locate: None,
        swept: false,
        holds: "the job queue's migration history",
    },
    TableEntry {
        table: "apalis.jobs",
        category: C::EngineState,
        subject_keys: &[K::Run("job (run id inside)")],
        retention_from: Some("done_at"),
        erasure: E::Delete,
        locate: None,
        swept: false,
        holds: "the step queue's jobs: run id, step, generation (no inputs); finished ones pruned after BAZAARSTREET_JOB_RETENTION",
    },
    TableEntry {
        table: "apalis.workers",
        category: C::EngineState,
        subject_keys: &[],
        retention_from: Some("last_seen"),
        erasure: E::Keep("worker names (host and pid) and heartbeats; no personal data"),
        locate: None,
        swept: false,
        holds: "the queue's workers and their heartbeats",
    },
];

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
