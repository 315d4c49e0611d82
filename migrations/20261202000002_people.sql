-- People: every key belongs to one person (staff member or system), and separation of
-- duties compares people. A person's handle is the actor recorded in run history and the
-- audit ledger, whichever of their keys acted.
create table staff (
    id uuid primary key,
    handle text not null unique,
    created_by text not null,
    created_at timestamptz not null default now()
);

-- Keys made before people existed each stood for one person: each becomes its own.
insert into staff (id, handle, created_by, created_at)
select id, name, created_by, created_at from api_keys;

-- A key of an approving role (admin, compliance_officer, compliance_lead) made over the
-- API works only once a second admin approved it; approved_by/approved_at record who and
-- when (for other roles, and keys made on the command line, the creator and the creation).
alter table api_keys
    add column person_id uuid references staff (id),
    add column approved_by text,
    add column approved_at timestamptz;
update api_keys set person_id = id, approved_by = created_by, approved_at = created_at;
alter table api_keys alter column person_id set not null;
create index api_keys_person_idx on api_keys (person_id);
