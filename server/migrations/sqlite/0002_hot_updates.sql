-- PostgreSQL-only tuning (documents fillfactor); kept so both schemas have the same versions.
SELECT 1;
