"""generation source image and timings

A generation of a strategy with a source image (EDITING, REFINE, BACKGROUND_FIXING,
FACE_FIXING, IMAGE_ADJUSTING) names the prediction or media it works on; every generation
records where its time went (queued, compute, ingest, total seconds).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('generation', sa.Column('source_prediction_id', sa.Uuid(), nullable=True))
    op.add_column('generation', sa.Column('source_media_id', sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f('fk_generation_source_prediction_id_prediction'),
        'generation',
        'prediction',
        ['source_prediction_id'],
        ['id'],
        ondelete='SET NULL',
    )
    op.create_foreign_key(
        op.f('fk_generation_source_media_id_media_resource'),
        'generation',
        'media_resource',
        ['source_media_id'],
        ['id'],
        ondelete='SET NULL',
    )
    op.add_column(
        'generation',
        sa.Column('timings', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column('generation', 'timings')
    op.drop_constraint(
        op.f('fk_generation_source_media_id_media_resource'), 'generation', type_='foreignkey'
    )
    op.drop_constraint(
        op.f('fk_generation_source_prediction_id_prediction'), 'generation', type_='foreignkey'
    )
    op.drop_column('generation', 'source_media_id')
    op.drop_column('generation', 'source_prediction_id')
