"""The SQL functions the audit triggers call (``monitoring.audit_triggers``), installed by monitoring's
migration 0023 and vendors' 0003 (``CREATE OR REPLACE``; neither drops them, so either app can be
migrated back alone). One text, in one place, imported by both migrations.

``coldchain_audit_row`` writes one ``AuditRecord`` for one changed row: the fields that changed (at
INSERT and DELETE, all that hold something) as ``{field: [old, new]}``, a secret field as "(changed,
not shown)", who and why from ``coldchain.audit_context`` (a JSON object the application sets with each
statement: ``monitoring.audit``; none, or an empty one, means "system"). An UPDATE that changes no
audited field writes nothing.

``coldchain_audit_membership`` writes the change of a many-to-many link (a user's groups, a group's
permissions) as a change of its owner: ``{"groups": [null, "added: QA"]}``.
"""

CONTEXT = """
    context jsonb := COALESCE(NULLIF(current_setting('coldchain.audit_context', true), ''), '{}')::jsonb;
"""

AUDIT_ROW = (
    """
CREATE OR REPLACE FUNCTION coldchain_audit_row(
    op text, label text, old_row jsonb, new_row jsonb, fields jsonb, secret text[], shown text
) RETURNS void AS $$
DECLARE"""
    + CONTEXT
    + """
    changes jsonb := '{}'::jsonb;
    column_name text;
    field_name text;
    before jsonb;
    after jsonb;
BEGIN
    FOR column_name, field_name IN SELECT key, value #>> '{}' FROM jsonb_each(fields) LOOP
        before := CASE WHEN op = 'INSERT' THEN 'null'::jsonb ELSE old_row -> column_name END;
        after := CASE WHEN op = 'DELETE' THEN 'null'::jsonb ELSE new_row -> column_name END;
        IF op = 'UPDATE' AND before IS NOT DISTINCT FROM after THEN
            CONTINUE;
        END IF;
        -- A new or deleted record lists the fields that hold something.
        IF op <> 'UPDATE' AND COALESCE(CASE op WHEN 'INSERT' THEN after ELSE before END, 'null'::jsonb)
                              IN ('null'::jsonb, '""'::jsonb) THEN
            CONTINUE;
        END IF;
        IF column_name = ANY(secret) THEN
            IF before IS NOT NULL AND before NOT IN ('null'::jsonb, '""'::jsonb) THEN
                before := to_jsonb('(changed, not shown)'::text);
            END IF;
            IF after IS NOT NULL AND after NOT IN ('null'::jsonb, '""'::jsonb) THEN
                after := to_jsonb('(changed, not shown)'::text);
            END IF;
        END IF;
        changes := changes || jsonb_build_object(field_name, jsonb_build_array(before, after));
    END LOOP;
    IF op = 'UPDATE' AND changes = '{}'::jsonb THEN
        RETURN;
    END IF;
    INSERT INTO monitoring_auditrecord (at, user_id, username, action, model, object_id, object_repr,
                                        changes, reason)
    VALUES (
        clock_timestamp(),
        (context ->> 'user_id')::integer,
        COALESCE(context ->> 'username', 'system'),
        CASE op WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
        label,
        COALESCE(new_row, old_row) ->> 'id',
        left(COALESCE(shown, ''), 300),
        changes,
        COALESCE(context ->> 'reason', '')
    );
END;
$$ LANGUAGE plpgsql;
"""
)

AUDIT_MEMBERSHIP = (
    """
CREATE OR REPLACE FUNCTION coldchain_audit_membership(
    op text, label text, owner_id bigint, shown text, field_name text, member text
) RETURNS void AS $$
DECLARE"""
    + CONTEXT
    + """
BEGIN
    INSERT INTO monitoring_auditrecord (at, user_id, username, action, model, object_id, object_repr,
                                        changes, reason)
    VALUES (
        clock_timestamp(),
        (context ->> 'user_id')::integer,
        COALESCE(context ->> 'username', 'system'),
        'update',
        label,
        owner_id::text,
        left(COALESCE(shown, ''), 300),
        jsonb_build_object(field_name, jsonb_build_array(
            NULL, CASE op WHEN 'INSERT' THEN 'added: ' ELSE 'removed: ' END || COALESCE(member, '?'))),
        COALESCE(context ->> 'reason', '')
    );
END;
$$ LANGUAGE plpgsql;
"""
)
