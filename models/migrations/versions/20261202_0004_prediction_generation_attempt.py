"""prediction generation attempt

A retried generation keeps the predictions of its earlier attempts: predictions are keyed
by (generation, generation attempt, try, output), not (generation, try, output).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'prediction',
        sa.Column('generation_attempt', sa.Integer(), nullable=False, server_default='1'),
    )
    op.alter_column('prediction', 'generation_attempt', server_default=None)
    op.drop_constraint(
        op.f('uq_prediction_generation_id_attempt_output_index'), 'prediction', type_='unique'
    )
    op.create_unique_constraint(
        'uq_prediction_generation_attempt_try_output',
        'prediction',
        ['generation_id', 'generation_attempt', 'attempt', 'output_index'],
    )


def downgrade() -> None:
    # Earlier attempts' predictions cannot fit the old key: keep the latest attempt's only.
    op.execute(
        "DELETE FROM prediction p USING generation g "
        "WHERE p.generation_id = g.id AND p.generation_attempt <> g.attempt"
    )
    op.drop_constraint('uq_prediction_generation_attempt_try_output', 'prediction', type_='unique')
    op.create_unique_constraint(
        op.f('uq_prediction_generation_id_attempt_output_index'),
        'prediction',
        ['generation_id', 'attempt', 'output_index'],
    )
    op.drop_column('prediction', 'generation_attempt')
