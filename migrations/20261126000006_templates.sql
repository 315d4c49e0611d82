-- Every status a template has had, and where the news came from.
create table template_events (
    id bigserial primary key,
    template_id bigint not null references whatsapp_templates (id) on delete cascade,
    at timestamptz not null default now(),
    status text not null,
    reason text,
    source text not null
);
create index template_events_template_idx on template_events (template_id, id);
