-- Finding runs that may have lost their job: in progress and not changed for a while.
create index runs_in_progress_idx on runs (updated_at) where status in ('running', 'waiting');
