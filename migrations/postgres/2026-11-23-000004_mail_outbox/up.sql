-- Mail waiting to be sent. Rows are written in the transaction that causes
-- the mail and sent by a job, so no mail is lost to a crash or restart.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
