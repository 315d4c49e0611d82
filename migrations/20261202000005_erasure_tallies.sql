-- What an erasure changed so far, per table, written in each batch's own transaction:
-- an erasure killed mid-way and run again reports every row it changed once.
create table erasure_tallies (
    tally text not null,
    table_name text not null,
    rows bigint not null default 0,
    primary key (tally, table_name)
);
