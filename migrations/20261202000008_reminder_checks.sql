-- When a reminder was last decided at its time without being sent (skipped, paused,
-- failed). A reminder paused ahead of its time because Meta refused its template has none,
-- so it is checked again at its time and goes out if the template is approved by then.
alter table reminders add column checked_at timestamptz;
