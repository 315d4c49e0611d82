-- The compliance console's sign-in sessions and sign-in attempts (docs/CONSOLE.md).
-- A session is found by the SHA-256 of the random id in its cookie; the id itself is
-- never stored. It ends on sign-out, after its idle or absolute lifetime, or when its key
-- is revoked.
create table console_sessions (
    id_sha256 bytea primary key,
    key_id uuid not null references api_keys (id),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    ended_at timestamptz,
    end_reason text
);
create index console_sessions_key_idx on console_sessions (key_id);

-- Sign-in attempts by client address (its SHA-256 only), for the rate limit.
create table console_sign_ins (
    id bigserial primary key,
    at timestamptz not null default now(),
    address_sha256 bytea not null,
    succeeded boolean not null
);
create index console_sign_ins_address_idx on console_sign_ins (address_sha256, at);
