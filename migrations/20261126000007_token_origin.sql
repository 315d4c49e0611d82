-- Which onboarding stored the current token, so a repeated attempt of that onboarding
-- knows its code was already exchanged (and another onboarding knows it was not).
alter table workspaces add column token_onboarding_id uuid;
