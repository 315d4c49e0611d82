-- Appointments and their WhatsApp reminders (docs/REMINDERS.md): a workspace's customers
-- with their consent as evidence, its default reminder policy, appointments with the
-- policy snapshotted at booking, and each reminder's plan, state and message.

create table customers (
    id uuid primary key,
    workspace_id text not null references workspaces (id),
    -- WhatsApp id: the number's digits.
    wa_id text not null,
    name text,
    -- IANA time zone reminders are planned in.
    timezone text not null,
    language text not null,
    -- Meta answered 131026 (not a WhatsApp user, or cannot receive): nothing more is sent.
    undeliverable_at timestamptz,
    created_at timestamptz not null default now(),
    unique (workspace_id, wa_id)
);

-- Opt-ins and opt-outs, in order: the evidence of consent (when, how, by whom, the
-- wording). The latest decides.
create table customer_consents (
    id bigserial primary key,
    customer_id uuid not null references customers (id),
    workspace_id text not null,
    kind text not null check (kind in ('opt_in', 'opt_out')),
    at timestamptz not null,
    method text not null,
    recorded_by text not null,
    wording text,
    created_at timestamptz not null default now()
);
create index customer_consents_customer_idx on customer_consents (customer_id, id);

-- A workspace's default reminder policy, snapshotted onto each appointment at booking.
create table reminder_policies (
    workspace_id text primary key references workspaces (id),
    policy jsonb not null,
    updated_by text not null,
    updated_at timestamptz not null default now()
);

create table appointments (
    id uuid primary key,
    workspace_id text not null references workspaces (id),
    customer_id uuid not null references customers (id),
    start_at timestamptz not null,
    duration_seconds int not null check (duration_seconds > 0),
    external_ref text,
    status text not null check (status in ('booked', 'cancelled')),
    -- The customer confirmed through the reminder's quick reply.
    confirmed_at timestamptz,
    -- {offsets: [seconds], template, language, quiet_hours: {from, to}|null, cancellation_template?}
    policy jsonb not null,
    -- Bumped by each reschedule or cancel; a reminder planned for an older version waits.
    version int not null default 1,
    run_id uuid,
    created_by text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    cancelled_at timestamptz
);
create index appointments_workspace_idx on appointments (workspace_id, start_at);

-- One per appointment and offset.
create table reminders (
    id uuid primary key,
    appointment_id uuid not null references appointments (id),
    workspace_id text not null,
    offset_seconds int not null,
    planned_at timestamptz,
    -- The appointment version it was planned for.
    planned_version int not null,
    state text not null
        check (state in ('planned', 'sending', 'sent', 'skipped', 'cancelled', 'paused', 'failed')),
    reason text,
    message_id text,
    sending_at timestamptz,
    sent_at timestamptz,
    unique (appointment_id, offset_seconds)
);
create index reminders_message_idx on reminders (message_id) where message_id is not null;

-- Customers' messages the reminders domain has read (a STOP reply, a quick-reply tap);
-- those that came in before it existed need no reading.
alter table inbound_messages add column reminders_seen boolean not null default false;
update inbound_messages set reminders_seen = true;
create index inbound_messages_reminders_unseen_idx on inbound_messages (received_at)
    where not reminders_seen;
