-- A business's WhatsApp connection.
create table workspaces (
    id text primary key,
    name text not null,
    status text not null default 'onboarding'
        check (status in ('onboarding', 'active', 'needs_reauth', 'disconnected', 'closed')),
    business_id text,
    waba_id text,
    phone_number_id text,
    display_phone_number text,
    -- The business token, AES-256-GCM sealed (never stored or shown in clear).
    access_token_sealed bytea,
    status_reason text,
    created_by text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index workspaces_waba_idx on workspaces (waba_id);

-- What an onboarding run needs but must not keep in its input: the Embedded Signup code
-- and the two-step PIN, sealed. The run's input names the row by id.
create table onboarding_secrets (
    id uuid primary key,
    workspace_id text not null references workspaces (id),
    code_sealed bytea not null,
    pin_sealed bytea not null,
    created_at timestamptz not null default now()
);

-- Message templates as Meta knows them, per workspace.
create table whatsapp_templates (
    id bigserial primary key,
    workspace_id text not null references workspaces (id),
    name text not null,
    language text not null,
    category text not null,
    components jsonb not null default '[]',
    meta_template_id text,
    status text not null,
    reason text,
    updated_at timestamptz not null default now(),
    unique (workspace_id, name, language)
);
