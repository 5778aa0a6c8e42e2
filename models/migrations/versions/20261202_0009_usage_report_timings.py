"""usage report timings

The day's generation timings (queued, compute, ingest, total seconds) summed per
organization in the usage report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before it report no time ({}), as the model's default does.
    op.add_column(
        'usage_report',
        sa.Column(
            'timings',
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )


def downgrade() -> None:
    op.drop_column('usage_report', 'timings')
