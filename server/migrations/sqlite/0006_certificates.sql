-- A signer's registered certificates are issuer and serial together (serials are unique only
-- per certification authority): a JSON list of {serial, issuer, issuer_key}. Serials registered
-- before stay in certificate_serials, read as registrations without an issuer, which match
-- nothing until the certificate is registered again.
ALTER TABLE accounts ADD COLUMN certificates TEXT NOT NULL DEFAULT '[]';

-- Units the province designates (district health centre, provincial CDC) sign the doses of the
-- facilities of their area: the facilities each such signer may sign for besides their own.
CREATE TABLE signer_scopes (
    username TEXT NOT NULL,
    facility TEXT NOT NULL,
    PRIMARY KEY (username, facility)
);
