"""The outbox row is written by a trigger on events, so appending is one statement.

The trigger runs inside the inserting transaction: an event and its outbox row still commit together
or not at all, and no code path can store an event without queueing it. The topic is the service's
own (the relay knows it), so the row needs only the position.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION p2kp_enqueue_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (position) VALUES (NEW.position);
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("topic")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER events_enqueue_outbox AFTER INSERT ON events "
            "FOR EACH ROW EXECUTE FUNCTION p2kp_enqueue_outbox()"
        )
    else:
        op.execute(
            "CREATE TRIGGER events_enqueue_outbox AFTER INSERT ON events "
            "BEGIN INSERT INTO outbox (position) VALUES (NEW.position); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_enqueue_outbox ON events")
        op.execute("DROP FUNCTION p2kp_enqueue_outbox()")
    else:
        op.execute("DROP TRIGGER events_enqueue_outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("topic", sa.String(200)))
