-- The administrators' audit chain anchored once a day: its head signed with the document
-- signer's key in the HSM (audit_anchors.rs). Hex text, alike on both backends.
CREATE TABLE admin_audit_anchors (
    day         TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    prev        TEXT NOT NULL,
    signed_at   TEXT NOT NULL,
    certificate TEXT NOT NULL,
    signature   TEXT NOT NULL
);
