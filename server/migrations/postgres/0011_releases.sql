-- Releases of the desktop app the server offers its stations' updater (packages in the updates
-- folder, named by id). A withdrawn release is offered no more.
CREATE TABLE releases (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    signature    TEXT NOT NULL,
    notes        TEXT,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    published_at TEXT NOT NULL,
    withdrawn_at TEXT,
    UNIQUE (version, platform)
);
