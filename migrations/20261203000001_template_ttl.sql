-- How long Meta keeps trying to deliver a message of the template to an unreachable phone
-- (`message_send_ttl_seconds`), as submitted; null: Meta's default.
alter table whatsapp_templates add column message_send_ttl_seconds integer;
