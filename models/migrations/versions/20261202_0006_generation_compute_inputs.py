"""generation compute inputs

The exact `inputs` a generation sent to Compute, kept on the generation for
reproducibility and support (`GET /generations/{id}` shows them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'generation',
        sa.Column('compute_inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column('generation', 'compute_inputs')
